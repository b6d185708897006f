"""Charging a renewed period, and dunning when the charge fails: PAST_DUE, retries, the payer's email, suspension.

The schedule: the renewal charges at once (attempt 1); when that fails the subscription is PAST_DUE
and the charge is retried ``DUNNING_DAYS`` after the first failure (1, 3 and 7 days: attempts 2, 3,
4). A successful attempt makes it ACTIVE again; when the last retry fails it is SUSPENDED with the
reason PAYMENT_FAILED (``enableSubscription`` then charges the period before enabling it). Every
failure emails the payer (the organization's super admins; with a reseller's card, the reseller's
admins too) and emits ``subscription.payment_failed``.

Charging once: each attempt gives the processor the idempotency key
``renewal:<subscription>:<anchor>:<attempt>``. The renewal's first attempt is anchored on the end of
the period it closes (the subscription's ``current_period_end``, which only the renewal's commit
moves), not on the new period's start: that depends on the run's clock (missed periods are skipped),
so a run that dies after the processor charged (its transaction rolled back, the attempt number with
it) and is retried after a period boundary asks again with the same key, and the processor answers
with the charge it already made. Later attempts (dunning, ``enableSubscription``) are anchored on the
committed charge row's period start. If the amount changed in between (prices, a scheduled change
edited), the processor answers what it charged under the key (``IdempotencyKeyReused``): the renewal
charge records that amount, the one fixed at the first attempt, and never charges the key twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from gateway.context import Context
from gateway.errors import DomainError
from gateway.events import emit
from gateway.models import User
from schema.billing.service import charge_organization
from schema.common import round_money
from schema.models import Organization as OrganizationRow
from schema.models import (
    OrganizationMember,
    PartnerMember,
    Payment,
    PaymentMethod,
    Plan,
    RenewalCharge,
    Subscription,
    SubscriptionChange,
)
from schema.subscriptions.events import SubscriptionPaymentFailed, subscription_event

DUNNING_DAYS = (1, 3, 7)  # retries, in days after the first failure
SUSPENDED_FOR_PAYMENT = "PAYMENT_FAILED"


def processor_key(charge: RenewalCharge, anchor: dt.datetime | None = None) -> str:
    """The processor's key of the charge's current attempt; ``anchor``: the first attempt's closed period end."""
    return f"renewal:{charge.subscription_id}:{anchor or charge.period_start:%Y%m%dT%H%M%SZ}:{charge.attempts}"


async def record_change(ctx: Context, subscription: Subscription, kind: str, *, via: str | None, at: dt.datetime,
                        details: dict[str, Any], from_plan_id: int | None = None,
                        from_licenses: int | None = None) -> SubscriptionChange:
    """A change row made by the renewal run (actor: the viewer who started it, none for the job)."""
    change = SubscriptionChange(
        subscription_id=subscription.id, kind=kind,
        from_plan_id=from_plan_id if from_plan_id is not None else subscription.plan_id,
        to_plan_id=subscription.plan_id,
        from_licenses=from_licenses if from_licenses is not None else subscription.license_count,
        to_licenses=subscription.license_count, details=details, actor_user_id=ctx.viewer.user_id, via=via, at=at)
    ctx.session.add(change)
    await ctx.session.flush()
    return change


async def attempt_charge(ctx: Context, subscription: Subscription, charge: RenewalCharge, now: dt.datetime, *,
                         via: str | None, anchor: dt.datetime | None = None) -> str:
    """One attempt at ``charge`` (both rows locked by the caller): "paid" or "past_due" / "suspended"."""
    if charge.amount <= 0:
        charge.status, charge.paid_at, charge.next_attempt_at = "PAID", now, None
        return "paid"
    charge.attempts += 1
    try:
        payment = await charge_organization(ctx, charge.organization_id, charge.amount, charge.currency,
                                            charge.description, processor_key=processor_key(charge, anchor))
    except DomainError as declined:
        return await _failed(ctx, subscription, charge, now, declined, via=via)
    settle(charge, payment, now)
    return "paid"


def settle(charge: RenewalCharge, payment: Payment, now: dt.datetime) -> None:
    """The charge is paid by ``payment``; its amount is what the processor charged (fixed at the key's first use)."""
    if (round_money(charge.amount), charge.currency) != (payment.amount, payment.currency):
        charge.amount, charge.currency = payment.amount, payment.currency
    charge.status, charge.payment_id, charge.paid_at = "PAID", payment.id, now
    charge.next_attempt_at, charge.last_error = None, None


async def _failed(ctx: Context, subscription: Subscription, charge: RenewalCharge, now: dt.datetime,
                  error: DomainError, *, via: str | None) -> str:
    charge.last_error = f"{error.code}: {error.message}"[:500]
    if charge.first_failed_at is None:
        charge.first_failed_at = now
    retries_done = charge.attempts - 1
    final = retries_done >= len(DUNNING_DAYS)
    charge.next_attempt_at = None if final else charge.first_failed_at + dt.timedelta(days=DUNNING_DAYS[retries_done])
    charge.status = "FAILED" if final else "PENDING"
    previous = subscription.status
    subscription.status = "SUSPENDED" if final else "PAST_DUE"
    subscription.suspended_reason = SUSPENDED_FOR_PAYMENT if final else None
    subscription.version += 1
    details = {"attempt": charge.attempts, "amount": str(charge.amount), "currency": charge.currency,
               "error": error.code, "from": previous, "to": subscription.status,
               "periodStart": charge.period_start.isoformat(),
               "nextAttemptAt": charge.next_attempt_at.isoformat() if charge.next_attempt_at else None}
    change = await record_change(ctx, subscription, "PAYMENT_FAILED", via=via, at=now, details=details)
    await emit(ctx, SubscriptionPaymentFailed(
        subscription_id=subscription.id, organization_id=subscription.organization_id,
        product_id=subscription.product_id, plan_id=subscription.plan_id, status=subscription.status,
        license_count=subscription.license_count, change_id=change.id, change_kind=change.kind,
        occurred_at=now, amount=charge.amount, currency=charge.currency, attempt=charge.attempts,
        error_code=error.code, period_start=charge.period_start, next_attempt_at=charge.next_attempt_at))
    if final:
        suspended = await record_change(ctx, subscription, "SUSPENDED", via=via, at=now,
                                        details={"from": previous, "to": "SUSPENDED", "reason": SUSPENDED_FOR_PAYMENT})
        await emit(ctx, subscription_event(subscription, suspended))
    await _email_payer(ctx, subscription, charge, error, final)
    return "suspended" if final else "past_due"


async def retry_due_charge(ctx: Context, subscription: Subscription, now: dt.datetime, *, via: str | None) -> str | None:
    """A PAST_DUE subscription's pending charge, when its next attempt is due: "recovered", "past_due", "suspended"."""
    charge = await ctx.session.scalar(
        select(RenewalCharge).where(RenewalCharge.subscription_id == subscription.id, RenewalCharge.status == "PENDING")
        .order_by(RenewalCharge.id.desc()).limit(1).with_for_update().execution_options(populate_existing=True))
    if charge is None or charge.next_attempt_at is None or charge.next_attempt_at > now:
        return None
    outcome = await attempt_charge(ctx, subscription, charge, now, via=via)
    if outcome != "paid":
        return outcome
    await _recovered(ctx, subscription, charge, now, via=via)
    return "recovered"


async def _recovered(ctx: Context, subscription: Subscription, charge: RenewalCharge, now: dt.datetime, *,
                     via: str | None) -> None:
    previous = subscription.status
    subscription.status, subscription.suspended_reason = "ACTIVE", None
    subscription.version += 1
    change = await record_change(ctx, subscription, "PAYMENT_RECOVERED", via=via, at=now, details={
        "attempt": charge.attempts, "amount": str(charge.amount), "currency": charge.currency,
        "paymentId": charge.payment_id, "from": previous, "to": "ACTIVE"})
    await emit(ctx, subscription_event(subscription, change))


async def charge_before_enabling(ctx: Context, subscription: Subscription, now: dt.datetime) -> RenewalCharge | None:
    """``enableSubscription`` of a suspended subscription with a renewal left unpaid (suspended for non-payment,
    or suspended by hand while past due): charge that period first.

    Raises the billing error (PAYMENT_DECLINED, NO_PAYMENT_METHOD...) when the charge fails: it stays suspended."""
    charge: RenewalCharge | None = await ctx.session.scalar(
        select(RenewalCharge).where(RenewalCharge.subscription_id == subscription.id,
                                    RenewalCharge.status.in_(("PENDING", "FAILED")))
        .order_by(RenewalCharge.id.desc()).limit(1).with_for_update()
        .execution_options(populate_existing=True))  # the attempt count as committed, not as the session saw it
    if charge is None:
        return None
    charge.attempts += 1
    payment = await charge_organization(ctx, charge.organization_id, charge.amount, charge.currency,
                                        charge.description, processor_key=processor_key(charge))
    settle(charge, payment, now)
    return charge


async def payer_emails(ctx: Context, organization_id: int) -> list[str]:
    """Who pays: the organization's super admins; with a reseller's card on file, the reseller's admins too."""
    session = ctx.session
    emails = list((await session.scalars(
        select(User.email).join(OrganizationMember, OrganizationMember.user_id == User.id)
        .where(OrganizationMember.organization_id == organization_id, OrganizationMember.role == "SUPER_ADMIN")
        .order_by(User.email))).all())
    owner = await session.scalar(select(PaymentMethod.owner).where(PaymentMethod.organization_id == organization_id))
    partner_id = await session.scalar(select(OrganizationRow.partner_id).where(OrganizationRow.id == organization_id))
    if owner == "RESELLER_CARD" and partner_id is not None:
        emails += (await session.scalars(
            select(User.email).join(PartnerMember, PartnerMember.user_id == User.id)
            .where(PartnerMember.partner_id == partner_id, PartnerMember.role == "PARTNER_ADMIN")
            .order_by(User.email))).all()
    return list(dict.fromkeys(emails))


async def _email_payer(ctx: Context, subscription: Subscription, charge: RenewalCharge, error: DomainError,
                       final: bool) -> None:
    organization = await ctx.session.get(OrganizationRow, subscription.organization_id)
    plan = await ctx.session.get(Plan, subscription.plan_id)
    name = f"{plan.name if plan else 'subscription'} of {organization.name if organization else 'your organization'}"
    amount = f"{charge.amount:.2f} {charge.currency}"
    if final:
        subject = f"Subscription suspended: {name}"
        body = (f"We could not charge {amount} for the period from {charge.period_start:%Y-%m-%d} "
                f"after {charge.attempts} attempts ({error.message}). The subscription is suspended. Update the "
                "payment method, then enable the subscription: it charges the period first.")
    else:
        assert charge.next_attempt_at is not None
        subject = f"Payment failed: {name}"
        body = (f"We could not charge {amount} for the period from {charge.period_start:%Y-%m-%d} "
                f"({error.message}). We will try again on {charge.next_attempt_at:%Y-%m-%d}; update the payment "
                "method before then to avoid a suspension.")
    for to in await payer_emails(ctx, subscription.organization_id):
        ctx.notify(to=to, subject=subject, template="subscription.payment_failed", body=body)
