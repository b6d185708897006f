"""Renewals of every product: the daily job ``subscriptions.renew`` and ``renewSubscriptions`` run this sweep.

Each subscription is handled in a transaction of its own (row locked, the due condition checked
again under the lock), so a crash loses at most the subscription in hand and two runs at once
(two workers, a worker and the manual trigger) handle each subscription once:

- ACTIVE, period ended, auto-renew: a new period starts where the old one ended (when runs were
  missed for longer than a period, the period that contains ``now``; the missed ones are not
  billed), the scheduled change is applied first, the period's list prices are locked, plugins roll
  their state and add their charges (``gateway_subscription_renewal``), and the total is charged
  once on the card on file (``renewal_charges``, unique per subscription and period start; see
  ``dunning.py`` for the processor key and for what a failed charge does);
- ACTIVE, period ended, no auto-renew: EXPIRED (its scheduled change dropped);
- TRIAL, trial ended: EXPIRED (a trial is purchased explicitly, never charged by a renewal);
- PAST_DUE with a retry due: the next dunning attempt;
- a renewal whose charges are in several currencies (a catalog change, a plugin's charge) is rolled
  back and the subscription SUSPENDED with the reason MIXED_CURRENCIES (``refuse_renewal``), rather
  than failing the run every day.
Running it again for the same ``now`` finds nothing due and changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select

from gateway.auth import ANONYMOUS, Viewer
from gateway.context import Context
from gateway.errors import DomainError
from gateway.events import emit
from gateway.jobs import JobContext, JobDefinition
from gateway.plugins import call_hook
from schema.catalog.pricing import Charge, PeriodPrices, add_period, period_charges
from schema.models import Plan, RenewalCharge, ScheduledSubscriptionChange, Subscription
from schema.subscriptions.dunning import attempt_charge, record_change, retry_due_charge
from schema.subscriptions.events import renewal_due, subscription_event
from schema.subscriptions.scheduled import apply_scheduled_change
from schema.subscriptions.service import _total, load_subscription_for_update, lock_period_prices, subscription_add_ons

log = logging.getLogger("gateway.subscriptions.renewals")
RENEW_JOB = "subscriptions.renew"
MIXED_CURRENCIES = "MIXED_CURRENCIES"


@dataclass
class RenewalRun:
    """What one sweep did, by subscription primary key."""

    renewed: list[int] = field(default_factory=list)      # renewed and paid
    past_due: list[int] = field(default_factory=list)     # renewed, the charge failed (first failure or a retry)
    recovered: list[int] = field(default_factory=list)    # a dunning retry succeeded
    suspended: list[int] = field(default_factory=list)    # the last retry failed
    expired: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)       # failed unexpectedly: rolled back, handled by a later run

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in
                ("renewed", "past_due", "recovered", "suspended", "expired", "errors")}


class RenewalRunIncomplete(Exception):
    """Some subscriptions failed unexpectedly (rolled back each); the engine retries the job."""


def next_period_start(period_end: dt.datetime, billing_period: str, now: dt.datetime) -> dt.datetime:
    """The start of the period after ``period_end`` that contains ``now`` (missed periods are skipped)."""
    start = period_end
    while add_period(start, billing_period) <= now:
        start = add_period(start, billing_period)
    return start


async def due_subscriptions(ctx: Context, now: dt.datetime) -> list[int]:
    """Ids of the subscriptions the sweep has something to do for at ``now`` (read without locks)."""
    ended = select(Subscription.id).where(Subscription.status.in_(("ACTIVE", "TRIAL")),
                                          Subscription.current_period_end <= now)
    retries = select(RenewalCharge.subscription_id).where(RenewalCharge.status == "PENDING",
                                                          RenewalCharge.next_attempt_at <= now)
    return list((await ctx.session.scalars(
        select(Subscription.id).where(or_(Subscription.id.in_(ended), Subscription.id.in_(retries)))
        .order_by(Subscription.id))).all())


async def renew_due(runtime: Any, now: dt.datetime, *, viewer: Viewer = ANONYMOUS, via: str | None = None) -> RenewalRun:
    """Renew, expire and dun everything due at ``now``: one transaction per subscription."""
    run = RenewalRun()
    async with runtime.context(viewer=viewer) as ctx:
        due = await due_subscriptions(ctx, now)
        await ctx.session.rollback()
    for subscription_id in due:
        try:
            try:
                async with runtime.context(viewer=viewer) as ctx, ctx.transaction():
                    outcome = await renew_one(ctx, subscription_id, now, via=via)
            except DomainError as error:
                if error.code != MIXED_CURRENCIES:
                    raise
                async with runtime.context(viewer=viewer) as ctx, ctx.transaction():  # rolled back; refused instead
                    outcome = await refuse_renewal(ctx, subscription_id, now, error, via=via)
        except Exception:
            log.exception("renewal of subscription %s failed; rolled back, a later run retries it", subscription_id)
            run.errors.append(subscription_id)
            continue
        if outcome is not None:
            getattr(run, outcome).append(subscription_id)
    return run


async def renew_one(ctx: Context, subscription_id: int, now: dt.datetime, *, via: str | None = None) -> str | None:
    """Whatever is due for one subscription at ``now``, in the caller's transaction; the RenewalRun list it goes in."""
    subscription = await load_subscription_for_update(ctx.session, subscription_id)
    if subscription.status == "PAST_DUE":
        return await retry_due_charge(ctx, subscription, now, via=via)
    ended = subscription.current_period_end <= now
    if subscription.status == "TRIAL" and ended:
        return await _expire(ctx, subscription, now, "TRIAL_ENDED", via=via)
    if subscription.status != "ACTIVE" or not ended:
        return None
    await emit(ctx, renewal_due(subscription, now))
    if not subscription.auto_renew:
        return await _expire(ctx, subscription, now, "NOT_AUTO_RENEWED", via=via)
    return await _renew(ctx, subscription, now, via=via)


async def _expire(ctx: Context, subscription: Subscription, now: dt.datetime, reason: str, *, via: str | None) -> str:
    scheduled = await ctx.session.scalar(select(ScheduledSubscriptionChange).where(
        ScheduledSubscriptionChange.subscription_id == subscription.id))
    if scheduled is not None:
        await ctx.session.delete(scheduled)
    previous = subscription.status
    subscription.status = "EXPIRED"
    subscription.version += 1
    change = await record_change(ctx, subscription, "EXPIRED", via=via, at=now, details={
        "reason": reason, "from": previous, "periodEnd": subscription.current_period_end.isoformat(),
        "asOf": now.isoformat(), "scheduledChangeDropped": scheduled is not None})
    await emit(ctx, subscription_event(subscription, change))
    return "expired"


async def _renew(ctx: Context, subscription: Subscription, now: dt.datetime, *, via: str | None) -> str:
    session = ctx.session
    from_plan_id, from_licenses = subscription.plan_id, subscription.license_count
    old_start, old_end = subscription.current_period_start, subscription.current_period_end
    applied = await apply_scheduled_change(session, subscription)
    plan = await session.get(Plan, subscription.plan_id)
    assert plan is not None
    start = next_period_start(old_end, plan.billing_period, now)
    end = add_period(start, plan.billing_period)
    rows = await subscription_add_ons(session, subscription.id)
    prices = PeriodPrices.list_prices(plan, (add_on for _, add_on in rows.values()))
    subscription.current_period_start, subscription.current_period_end = start, end
    lock_period_prices(subscription, prices, (row for row, _ in rows.values()))
    subscription.version += 1
    charges = period_charges(plan, prices, subscription.license_count, subscription.storage_gb,
                             ((add_on, row.quantity) for row, add_on in rows.values()))
    for answer in await call_hook(ctx.hooks.gateway_subscription_renewal, ctx=ctx, subscription=subscription,
                                  period_start=start, period_end=end):
        charges.extend(answer or [])
    amount, currency = _total(charges) if charges else (Decimal("0"), plan.currency)
    charge = RenewalCharge(
        subscription_id=subscription.id, organization_id=subscription.organization_id, period_start=start,
        period_end=end, amount=amount, currency=currency, status="PENDING", attempts=0,
        description=_description(plan, charges, start, end))
    session.add(charge)
    await session.flush()  # the unique (subscription, period start) stops a second charge row here
    change = await record_change(ctx, subscription, "RENEWED", via=via, at=now, from_plan_id=from_plan_id,
                                 from_licenses=from_licenses, details={
                                     "previousPeriod": [old_start.isoformat(), old_end.isoformat()],
                                     "period": [start.isoformat(), end.isoformat()],
                                     "charges": [[c.description, str(c.amount), c.currency] for c in charges],
                                     "amount": str(amount), "currency": currency, "renewalChargeId": charge.id,
                                     "scheduledChange": applied})
    await emit(ctx, subscription_event(subscription, change))
    outcome = await attempt_charge(ctx, subscription, charge, now, via=via, anchor=old_end)
    if outcome == "paid":
        charged = {} if (charge.amount, charge.currency) == (amount, currency) else {  # fixed at the first attempt
            "chargedAmount": str(charge.amount), "chargedCurrency": charge.currency}
        change.details = {**change.details, "paymentId": charge.payment_id, **charged}
        return "renewed"
    return outcome


async def refuse_renewal(ctx: Context, subscription_id: int, now: dt.datetime, error: DomainError, *,
                         via: str | None) -> str | None:
    """A renewal that cannot be charged as one amount (its charges are in several currencies): not renewed, not
    charged; SUSPENDED with the reason, so the run does not fail on it every day. An operator fixes the catalog
    (or the subscription), then ``enableSubscription`` and the next run renews it."""
    subscription = await load_subscription_for_update(ctx.session, subscription_id)
    if subscription.status != "ACTIVE" or subscription.current_period_end > now:
        return None  # handled meanwhile
    subscription.status, subscription.suspended_reason = "SUSPENDED", error.code
    subscription.version += 1
    change = await record_change(ctx, subscription, "SUSPENDED", via=via, at=now, details={
        "from": "ACTIVE", "to": "SUSPENDED", "reason": error.code, "message": error.message,
        "periodEnd": subscription.current_period_end.isoformat(), "asOf": now.isoformat()})
    await emit(ctx, subscription_event(subscription, change))
    log.warning("renewal of subscription %s refused (%s): suspended", subscription_id, error.code)
    return "suspended"


def _description(plan: Plan, charges: list[Charge], start: dt.datetime, end: dt.datetime) -> str:
    what = "; ".join(c.description for c in charges) or plan.name
    return f"Renewal {start:%Y-%m-%d} to {end:%Y-%m-%d}: {what}"[:500]


async def renew_job(job: JobContext) -> dict[str, int]:
    """The body of ``subscriptions.renew``: the sweep at the job's clock; fails (the engine retries) on errors."""
    run = await renew_due(job.runtime, job.now)
    counts = run.counts()
    log.info("subscriptions.renew as of %s: %s", job.now.isoformat(), counts)
    if run.errors:
        raise RenewalRunIncomplete(f"{len(run.errors)} subscription(s) failed and were rolled back: {run.errors}")
    return counts


RENEW_JOB_DEFINITION = JobDefinition(
    name=RENEW_JOB, run=renew_job, schedule="15 3 * * *", retries=5,
    description="Renew, expire and dun the subscriptions whose period ended (daily, 03:15 UTC).")
