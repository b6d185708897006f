"""The certificates plugin's tables: certificate types and inventory per subscription and type."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base, utcnow


class CertificateType(Base):
    """A kind of certificate (DV, OV, EV, ...) sold per unit and per year."""

    __tablename__ = "certificate_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[Decimal]  # per certificate and per year
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CertificateInventory(Base):
    """Inventory of one certificate type in one certificate subscription.

    ``current``: units usable in the current period; ``used``: units consumed in it;
    ``renewal``: units the subscription starts its next period with. The check
    constraints are the last line of defence against overselling under concurrency.
    """

    __tablename__ = "certificate_inventory"
    __table_args__ = (
        UniqueConstraint("subscription_id", "certificate_type_id"),
        CheckConstraint("used >= 0 AND used <= current", name="used_within_current"),
        CheckConstraint("renewal >= 0", name="renewal_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    certificate_type_id: Mapped[int] = mapped_column(ForeignKey("certificate_types.id"))
    current: Mapped[int] = mapped_column(default=0)
    renewal: Mapped[int] = mapped_column(default=0)
    used: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
