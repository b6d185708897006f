"""The billing part's domain events (see gateway/events.py), emitted in the transaction of the change."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.events import DomainEvent


@dataclass(frozen=True, kw_only=True)
class PaymentRecorded(DomainEvent):
    """A payment was charged and recorded; ``card_owner`` says whose card paid (RESELLER_CARD / CUSTOMER_CARD)."""

    type = "payment.recorded"
    read_action = "organization.read_billing"  # the amount and whose card: payment details
    payment_id: int
    organization_id: int
    amount: Decimal
    currency: str
    card_owner: str
