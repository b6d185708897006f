"""Billing rules: charging an organization's card, pending invoice lines, the card on file."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.context import Context
from gateway.db import utcnow
from gateway.errors import DomainError
from gateway.plugins import call_hook, maybe_await
from schema.billing.processor import PaymentDeclined
from schema.common import parse_money, round_money
from schema.models import InvoiceLine, Payment, PaymentMethod

CARD_OWNERS = ("RESELLER_CARD", "CUSTOMER_CARD")


async def charge_organization(ctx: Context, organization_id: int, amount: Decimal, currency: str, description: str,
                              *, idempotency_key: str | None = None) -> Payment:
    """Charge the organization's card through the payment processor and record the Payment.

    Runs inside the caller's transaction (``run_mutation``). The payment is tagged with the
    card's owner (RESELLER_CARD / CUSTOMER_CARD). With ``idempotency_key`` the same key for
    the same organization charges once: the second call returns the first Payment. Refusals:
    INVALID_AMOUNT (not positive), NO_PAYMENT_METHOD, CARD_EXPIRED, PAYMENT_DECLINED.
    """
    value, code = parse_money(amount, currency)
    value = round_money(value)
    if value <= 0:
        raise DomainError("INVALID_AMOUNT", "A charge must be a positive amount.", "amount")
    claim: Any = None
    if idempotency_key is not None:
        claim = await ctx.claim_idempotency_key(
            f"billing.charge:{organization_id}", idempotency_key,
            {"amount": str(value), "currency": code, "description": description},
        )
        if isinstance(claim, dict):
            payment = await ctx.session.get(Payment, claim["payment_id"])
            if payment is not None:
                return payment
    method = await ctx.session.scalar(select(PaymentMethod).where(PaymentMethod.organization_id == organization_id))
    if method is None:
        raise DomainError("NO_PAYMENT_METHOD", "The organization has no card on file; add a payment method first.")
    if card_expired(method.exp_month, method.exp_year):
        raise DomainError("CARD_EXPIRED", f"The card ending in {method.last4} has expired; update the payment method.")
    processor = await ctx.runtime.payment_processor()
    if processor is None:
        raise DomainError("NO_PAYMENT_PROCESSOR", "Payments are not available right now; try again later.")
    try:
        reference = await maybe_await(processor.charge(
            token=method.processor_token, amount=value, description=description,
            idempotency_key=f"{organization_id}:{idempotency_key}" if idempotency_key else None, currency=code,
        ))
    except PaymentDeclined as declined:
        raise DomainError("PAYMENT_DECLINED", f"{declined} Use another card or contact the card holder.") from None
    payment = Payment(organization_id=organization_id, amount=value, currency=code, card_owner=method.owner,
                      description=description[:500], processor_reference=str(reference))
    ctx.session.add(payment)
    await ctx.session.flush()
    if claim is not None and not isinstance(claim, dict):
        claim.result = {"payment_id": payment.id}
    await call_hook(ctx.hooks.payment_recorded, ctx=ctx, payment=payment)
    return payment


async def add_invoice_line(session: AsyncSession, *, organization_id: int, subscription_id: int | None,
                           description: str, amount: Decimal, currency: str, prorated: bool,
                           source: str = "core") -> InvoiceLine:
    """Add a pending line to the organization's next invoice (a negative amount is a credit)."""
    value, code = parse_money(amount, currency)
    line = InvoiceLine(organization_id=organization_id, subscription_id=subscription_id, description=description[:500],
                       amount=round_money(value), currency=code, prorated=prorated, source=source)
    session.add(line)
    await session.flush()
    return line


def card_expired(exp_month: int, exp_year: int, today: dt.date | None = None) -> bool:
    """A card is valid through the last day of its expiry month."""
    today = today or utcnow().date()
    return (exp_year, exp_month) < (today.year, today.month)


# ---------------------------------------------------------------- never store a card number
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d)*")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def looks_like_card_number(text: str) -> bool:
    """True when ``text`` holds a run of 13-19 digits (single spaces or dashes allowed between) passing Luhn."""
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def refuse_card_numbers(fields: dict[str, Any]) -> None:
    """Refuse any input field that looks like a full card number (it is never stored, not even in errors)."""
    for name, value in fields.items():
        if isinstance(value, str) and looks_like_card_number(value):
            raise DomainError(
                "CARD_NUMBER_NOT_ACCEPTED",
                "This looks like a full card number. Never send card numbers: tokenize the card with the payment "
                "processor and send its token as cardToken, with the brand and the last 4 digits only.",
                name,
            )
