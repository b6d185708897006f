"""Billing rules: charging an organization's card, pending invoice lines, the card on file."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.card_guard import CARD_NUMBER_CODE
from gateway.context import Context
from gateway.db import utcnow
from gateway.errors import DomainError
from gateway.events import emit
from gateway.models import IdempotencyKey
from gateway.plugins import call_firstresult, maybe_await
from gateway.policy import Decision
from gateway.sensitive import CARD_NUMBER_MESSAGE, IGNORED, contains_card_data, skeleton
from schema.access import audit
from schema.billing.events import PaymentRecorded
from schema.billing.processor import IdempotencyKeyReused, PaymentDeclined, PaymentProcessor
from schema.common import parse_money, round_money
from schema.models import InvoiceLine, Organization, Payment, PaymentMethod

CARD_OWNERS = ("RESELLER_CARD", "CUSTOMER_CARD")


async def charge_organization(ctx: Context, organization_id: int, amount: Decimal, currency: str, description: str,
                              *, idempotency_key: str | None = None, processor_key: str | None = None) -> Payment:
    """Charge the organization's card through the payment processor and record the Payment.

    Runs inside the caller's transaction (``run_mutation``). The payment is tagged with the
    card's owner (RESELLER_CARD / CUSTOMER_CARD). With ``idempotency_key`` the same key for
    the same organization charges once: the second call returns the first Payment. Refusals:
    INVALID_AMOUNT (not positive), NO_PAYMENT_METHOD, CARD_EXPIRED, PAYMENT_DECLINED.

    ``processor_key`` (renewals): the idempotency key given to the processor as is, without a claim
    in this database; the caller's own ledger row (e.g. ``renewal_charges``) dedupes on our side.
    When the processor already charged that key with another amount or currency (a renewal retried
    after a crash, its prices changed in between) the Payment records what the processor charged:
    the caller compares ``payment.amount`` / ``payment.currency`` with what it asked.
    """
    value, code = parse_money(amount, currency)
    value = round_money(value)
    if value <= 0:
        raise DomainError("INVALID_AMOUNT", "A charge must be a positive amount.", "amount")
    claim: IdempotencyKey | dict[str, Any] | None = None  # the key's row to fill, or the earlier result
    if idempotency_key is not None:
        claim = await ctx.claim_idempotency_key(
            f"billing.charge:{organization_id}", idempotency_key,
            {"amount": str(value), "currency": code, "description": description},
        )
        if isinstance(claim, dict):
            payment: Payment | None = await ctx.session.get(Payment, claim["payment_id"])
            if payment is not None:
                return payment
    method = await ctx.session.scalar(select(PaymentMethod).where(PaymentMethod.organization_id == organization_id))
    if method is None:
        raise DomainError("NO_PAYMENT_METHOD", "The organization has no card on file; add a payment method first.")
    if card_expired(method.exp_month, method.exp_year):
        raise DomainError("CARD_EXPIRED", f"The card ending in {method.last4} has expired; update the payment method.")
    processor: PaymentProcessor | None = await call_firstresult(ctx.hooks.gateway_payment_processor)
    if processor is None:
        raise DomainError("NO_PAYMENT_PROCESSOR", "Payments are not available right now; try again later.")
    try:
        reference = await maybe_await(processor.charge(
            token=method.processor_token, amount=value, description=description,
            idempotency_key=processor_key or (f"{organization_id}:{idempotency_key}" if idempotency_key else None),
            currency=code,
        ))
    except PaymentDeclined as declined:
        raise DomainError("PAYMENT_DECLINED", f"{declined} Use another card or contact the card holder.") from None
    except IdempotencyKeyReused as earlier:
        if processor_key is None:
            raise
        reference, value, code = earlier.reference, round_money(Decimal(earlier.amount)), earlier.currency
    payment = Payment(organization_id=organization_id, amount=value, currency=code, card_owner=method.owner,
                      description=description[:500], processor_reference=str(reference))
    ctx.session.add(payment)
    await ctx.session.flush()
    if claim is not None and not isinstance(claim, dict):
        claim.result = {"payment_id": payment.id}
    await emit(ctx, PaymentRecorded(payment_id=payment.id, organization_id=organization_id, amount=payment.amount,
                                    currency=payment.currency, card_owner=payment.card_owner, occurred_at=payment.created_at))
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
CARD_BRANDS = ("VISA", "MASTERCARD", "AMEX", "DISCOVER", "JCB", "DINERS", "UNIONPAY", "OTHER")
# The processor's token: "tok_" then 8-64 letters, digits or underscores, at least one a letter
# (so never a bare number, whether a card number, a CVV or an expiry).
CARD_TOKEN = re.compile(r"tok_(?=[A-Za-z0-9_]*[A-Za-z])[A-Za-z0-9_]{8,64}")
_THREE_OR_FOUR_DIGITS = re.compile(r"(?<![0-9])[0-9]{3,4}(?![0-9])")


def refuse_card_numbers(fields: dict[str, Any]) -> None:
    """Refuse any input field holding a card number or a labelled CVV (it is never stored, not even in errors)."""
    for name, value in fields.items():
        if isinstance(value, str) and contains_card_data(value):
            raise DomainError(CARD_NUMBER_CODE, CARD_NUMBER_MESSAGE, name)


def check_holder_name(holder_name: str | None) -> str | None:
    """The name printed on the card: no digits at all, so neither a CVV nor a card number can hide in it."""
    holder = holder_name.strip() if holder_name else None
    if holder is None:
        return None
    if len(holder) > 200:
        raise DomainError("INVALID_HOLDER_NAME", "holderName is at most 200 characters.", "holderName")
    digits_only = re.sub(r"[^0-9]+", " ", skeleton(holder).replace(IGNORED, ""))
    if _THREE_OR_FOUR_DIGITS.search(digits_only):
        raise DomainError("CVV_NOT_ACCEPTED", "holderName holds a 3 or 4 digit number, which may be the card's "
                          "security code (CVV). Never send the CVV; holderName is the name on the card.", "holderName")
    if digits_only.strip():
        raise DomainError("INVALID_HOLDER_NAME", "holderName is the name printed on the card: it has no digits.",
                          "holderName")
    return holder


def check_card_token(card_token: str) -> str:
    token = card_token.strip()
    if not CARD_TOKEN.fullmatch(token):
        raise DomainError("INVALID_CARD_TOKEN", "cardToken must be the payment processor's token: tok_ followed by 8 "
                          "to 64 letters, digits or underscores, at least one of them a letter (never the card "
                          "number).", "cardToken")
    return token


# ---------------------------------------------------------------- the card on file
async def update_payment_method(
    ctx: Context, decision: Decision, organization_id: int, *, owner: str, card_token: str, brand: str, last4: str,
    exp_month: int, exp_year: int, holder_name: str | None, today: dt.date | None = None,
) -> PaymentMethod:
    """Set (or replace) the organization's card: processor token, brand, last 4 digits, expiry, holder, owner.

    Never a card number or CVV: any field that looks like a full card number is refused and
    not stored anywhere (not in the audit log, not in the error).
    """
    refuse_card_numbers({"cardToken": card_token, "brand": brand, "last4": last4, "holderName": holder_name})
    if owner not in CARD_OWNERS:
        raise DomainError("INVALID_CARD_OWNER", "owner must be RESELLER_CARD or CUSTOMER_CARD.", "owner")
    token = check_card_token(card_token)
    brand = brand.strip().upper()
    if brand not in CARD_BRANDS:
        raise DomainError("INVALID_BRAND", f"brand must be one of {', '.join(CARD_BRANDS)}.", "brand")
    if not re.fullmatch(r"\d{4}", last4 or ""):
        raise DomainError("INVALID_LAST4", "last4 must be exactly the last 4 digits of the card.", "last4")
    if not 1 <= exp_month <= 12:
        raise DomainError("INVALID_EXPIRY", "expMonth must be between 1 and 12.", "expMonth")
    today = today or utcnow().date()
    if card_expired(exp_month, exp_year, today):
        raise DomainError("CARD_EXPIRED", "This card has expired; use a card that is still valid.", "expYear")
    if exp_year > today.year + 30:
        raise DomainError("INVALID_EXPIRY", "expYear is too far in the future.", "expYear")
    holder = check_holder_name(holder_name)
    organization = await ctx.session.get(Organization, organization_id)
    if owner == "RESELLER_CARD" and (organization is None or organization.partner_id is None):
        raise DomainError("NO_RESELLER", "A direct customer has no reseller; use CUSTOMER_CARD.", "owner")
    acting_partner = decision.grant.through
    if owner == "RESELLER_CARD" and acting_partner is not None and acting_partner != organization.partner_id:
        # delegated access without the mapping: its card would pay for the mapped reseller's sales
        # and stay on file after the customer revokes it
        raise DomainError("NOT_THE_RESELLER", "Only the organization's reseller (the partner it is mapped to) "
                          "can put a RESELLER_CARD on file; use CUSTOMER_CARD.", "owner")
    method: PaymentMethod | None = await ctx.session.scalar(
        select(PaymentMethod).where(PaymentMethod.organization_id == organization_id).with_for_update())
    replaced = method is not None
    if method is None:
        method = PaymentMethod(organization_id=organization_id)
        ctx.session.add(method)
    method.owner, method.processor_token, method.brand, method.last4 = owner, token, brand, last4
    method.exp_month, method.exp_year, method.holder_name, method.updated_at = exp_month, exp_year, holder, utcnow()
    await ctx.session.flush()
    audit(ctx, decision, "payment_method.update", organization_id=organization_id,
          details={"owner": owner, "brand": brand, "last4": last4, "replaced": replaced})
    return method


async def remove_payment_method(ctx: Context, decision: Decision, organization_id: int) -> PaymentMethod:
    """Remove the card on file; returns the removed card (for the payload)."""
    method: PaymentMethod | None = await ctx.session.scalar(
        select(PaymentMethod).where(PaymentMethod.organization_id == organization_id).with_for_update())
    if method is None:
        raise DomainError("NO_PAYMENT_METHOD", "The organization has no card on file.")
    await ctx.session.delete(method)
    await ctx.session.flush()
    audit(ctx, decision, "payment_method.remove", organization_id=organization_id,
          details={"owner": method.owner, "brand": method.brand, "last4": method.last4})
    return method
