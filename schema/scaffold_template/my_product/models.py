"""My product's table: one account per organization, with the storage it has booked."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base, utcnow


class MyProductAccount(Base):
    """An organization's My product account (at most one per organization)."""

    __tablename__ = "my_product_accounts"
    __table_args__ = (CheckConstraint("storage_gb >= 0", name="storage_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), unique=True)
    storage_gb: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


MODELS: list[type] = [MyProductAccount]
