"""The instant-messaging credit ledger: one account per organization and its transactions.

The ledger (``desk_im_credit_transactions``) is the truth: every change of credits is one
row with a signed ``credits`` (positive: added, negative: consumed). The account's
``balance`` is a running total of that ledger, kept so that consumption can be one
atomic conditional UPDATE (``balance = balance - n WHERE balance >= n``); every write
changes both in the same transaction, and ``service.assert_ledger_consistent`` proves
they agree. A CHECK constraint keeps the balance from ever going negative.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base, utcnow

PURCHASE = "PURCHASE"
USAGE = "USAGE"
ADJUSTMENT = "ADJUSTMENT"


class ImCreditAccount(Base):
    __tablename__ = "desk_im_credit_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), unique=True)
    balance: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ImCreditTransaction(Base):
    __tablename__ = "desk_im_credit_transactions"
    __table_args__ = (Index("ix_desk_im_credit_transactions_org", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # PURCHASE USAGE ADJUSTMENT
    credits: Mapped[int]  # signed: + added, - consumed, 0 for usage on a free channel
    channel: Mapped[str | None] = mapped_column(String(30))  # usage only
    message_count: Mapped[int | None]  # usage only: messages sent, charged or not
    amount: Mapped[Decimal | None]  # purchase only: what the card was charged
    currency: Mapped[str | None] = mapped_column(String(3))
    card_owner: Mapped[str | None] = mapped_column(String(20))  # RESELLER_CARD CUSTOMER_CARD
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(500))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


MODELS: list[type] = [ImCreditAccount, ImCreditTransaction]
