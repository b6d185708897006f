"""Renewal money edge cases: the processor key of a renewal retried after a crash (across a period boundary,
with a changed amount), the attempt count seen by enableSubscription, mixed currencies."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from test_renewals_kit import (
    LedgerProcessor,
    add_plain,
    assert_every_period_charged_once,
    ledger,
    moment,
)

from gateway.auth import ANONYMOUS
from gateway.runtime import Runtime
from gateway.testing import run_job
from schema import models
from schema.catalog.pricing import add_period
from schema.subscriptions.dunning import charge_before_enabling
from schema.subscriptions.renewals import RenewalRunIncomplete
from schema.subscriptions.service import load_subscription_for_update
from schema.testing import World

JOB = "subscriptions.renew"


@pytest.fixture
def gateway_plugins() -> None:
    return None  # every installed product: renewals of all four


async def crash_once(runtime: Runtime, processor: LedgerProcessor, pk: int, now: dt.datetime) -> None:
    """The renewal charges at the processor, then its transaction dies (rolled back)."""
    processor.crash_after_charging = f"renewal:{pk}:"
    with pytest.raises(RenewalRunIncomplete):
        await run_job(runtime, JOB, now=now)
    assert len(processor.charges) == 1 and await ledger(runtime) == []


async def renewed_change(runtime: Runtime, pk: int) -> models.SubscriptionChange:
    async with runtime.sessions() as session:
        change = await session.scalar(select(models.SubscriptionChange).where(
            models.SubscriptionChange.subscription_id == pk, models.SubscriptionChange.kind == "RENEWED"))
    assert change is not None
    return change


async def test_a_crashed_renewal_retried_in_the_next_period_is_charged_once(
        runtime: Runtime, products: World, processor: LedgerProcessor) -> None:
    start = moment(-70)
    pk = await add_plain(runtime, products, "acme", "MAIL_STANDARD", 3, start=start)  # 3 × 4.00
    old_end = add_period(start, "MONTHLY")
    await crash_once(runtime, processor, pk, old_end + dt.timedelta(hours=1))

    # the engine's retries all failed; the next run is a period later: the new period is the one containing it
    later = add_period(old_end, "MONTHLY") + dt.timedelta(hours=1)
    counts = await run_job(runtime, JOB, now=later)
    assert counts["renewed"] == 1 and counts["errors"] == 0
    assert len(processor.calls) == 2 and len(set(processor.calls)) == 1, processor.calls  # the same key: one charge
    assert len(processor.charges) == 1
    [(_, period_start, status, amount, payment_id)] = await ledger(runtime)
    assert (period_start, status, amount) == (add_period(old_end, "MONTHLY"), "PAID", Decimal("12.0000"))
    async with runtime.sessions() as session:
        payment = await session.get(models.Payment, payment_id)
    assert payment is not None and payment.processor_reference == "ch_0"
    await assert_every_period_charged_once(runtime, processor)


async def test_a_crashed_renewal_whose_amount_changed_records_what_the_processor_charged(
        runtime: Runtime, products: World, processor: LedgerProcessor) -> None:
    start = moment(-40)
    pk = await add_plain(runtime, products, "acme", "MAIL_STANDARD", 3, start=start)
    due = add_period(start, "MONTHLY") + dt.timedelta(hours=1)
    await crash_once(runtime, processor, pk, due)
    async with runtime.sessions() as session, session.begin():  # two more licenses before the retry
        row = await session.get(models.Subscription, pk)
        assert row is not None
        row.license_count = 5

    counts = await run_job(runtime, JOB, now=due + dt.timedelta(hours=1))
    assert counts["renewed"] == 1 and counts["errors"] == 0
    assert [c["amount"] for c in processor.charges.values()] == [Decimal("12.00")]  # charged once, at 12.00
    [(_, _, status, amount, payment_id)] = await ledger(runtime)
    assert (status, amount) == ("PAID", Decimal("12.00"))  # what was charged: the first attempt's amount
    async with runtime.sessions() as session:
        payment = await session.get(models.Payment, payment_id)
    assert payment is not None and (payment.amount, payment.processor_reference) == (Decimal("12.00"), "ch_0")
    details = (await renewed_change(runtime, pk)).details
    assert (details["amount"], details["chargedAmount"]) == ("20.00", "12.00")
    await assert_every_period_charged_once(runtime, processor)


async def test_enabling_charges_with_the_committed_attempt_count_not_the_sessions_stale_one(
        runtime: Runtime, products: World, processor: LedgerProcessor) -> None:
    start = moment(-40)
    pk = await add_plain(runtime, products, "acme", "MAIL_STANDARD", 3, start=start)
    renewal = add_period(start, "MONTHLY") + dt.timedelta(hours=1)
    processor.declining = True
    for days in (0, 1, 3, 7):  # the renewal and its three retries: suspended, the charge FAILED at attempt 4
        await run_job(runtime, JOB, now=renewal + dt.timedelta(days=days))
    processor.declining = False
    async with runtime.context(viewer=ANONYMOUS) as ctx:
        seen = await ctx.session.scalar(select(models.RenewalCharge))  # read earlier in this session: attempts 4
        assert seen is not None and seen.attempts == 4
        await ctx.session.commit()
        async with runtime.sessions() as other, other.begin():  # meanwhile another attempt was made and committed
            committed = await other.get(models.RenewalCharge, seen.id)
            assert committed is not None
            committed.attempts = 5
        async with ctx.transaction():
            subscription = await load_subscription_for_update(ctx.session, pk)
            charge = await charge_before_enabling(ctx, subscription, renewal + dt.timedelta(days=8))
        assert charge is not None and charge.attempts == 6
    assert processor.calls[-1].endswith(":6"), processor.calls  # attempt 5's key would replay that attempt's answer
    await assert_every_period_charged_once(runtime, processor)


async def test_a_renewal_in_several_currencies_is_refused_once_not_failed_every_day(
        runtime: Runtime, products: World, processor: LedgerProcessor) -> None:
    start = moment(-40)
    pk = await add_plain(runtime, products, "acme", "MAIL_STANDARD", 3, start=start, add_ons={"MAIL_EXTRA_STORAGE": 2})
    other = await add_plain(runtime, products, "direct", "VERTICAL_STARTER", 1, start=start)
    async with runtime.sessions() as session, session.begin():  # the catalog prices the add-on in euros now
        add_on = await session.scalar(select(models.AddOn).where(models.AddOn.code == "MAIL_EXTRA_STORAGE"))
        assert add_on is not None
        add_on.currency = "EUR"
    due = add_period(start, "MONTHLY") + dt.timedelta(hours=1)
    counts = await run_job(runtime, JOB, now=due)
    assert (counts["renewed"], counts["suspended"], counts["errors"]) == (1, 1, 0)
    async with runtime.sessions() as session:
        row = await session.get(models.Subscription, pk)
        assert row is not None
        assert (row.status, row.suspended_reason, row.current_period_end) == (
            "SUSPENDED", "MIXED_CURRENCIES", add_period(start, "MONTHLY"))  # not renewed
        kinds = list(await session.scalars(select(models.SubscriptionChange.kind).where(
            models.SubscriptionChange.subscription_id == pk)))
    assert kinds == ["SUSPENDED"]
    assert [p for p, *_ in await ledger(runtime)] == [other] and all(f":{pk}:" not in k for k in processor.calls)
    assert (await run_job(runtime, JOB, now=due + dt.timedelta(days=1))) == {k: 0 for k in (
        "renewed", "past_due", "recovered", "suspended", "expired", "errors")}


async def test_a_scheduled_change_is_applied_once_by_a_renewal_retried_after_a_crash(
        runtime: Runtime, products: World, processor: LedgerProcessor) -> None:
    start = moment(-40)
    pk = await add_plain(runtime, products, "acme", "MAIL_STANDARD", 5, start=start)
    async with runtime.sessions() as session, session.begin():
        session.add(models.ScheduledSubscriptionChange(subscription_id=pk, license_count=2, add_ons={}))
    due = add_period(start, "MONTHLY") + dt.timedelta(hours=1)
    await crash_once(runtime, processor, pk, due)
    async with runtime.sessions() as session:  # rolled back with the renewal: still scheduled, not applied
        assert await session.scalar(select(models.ScheduledSubscriptionChange.license_count)) == 2
        before = await session.get(models.Subscription, pk)
        assert before is not None and before.license_count == 5
    assert (await run_job(runtime, JOB, now=due))["renewed"] == 1
    assert (await run_job(runtime, JOB, now=due + dt.timedelta(days=1)))["renewed"] == 0
    async with runtime.sessions() as session:
        assert await session.scalar(select(models.ScheduledSubscriptionChange)) is None
        row = await session.get(models.Subscription, pk)
        assert row is not None and row.license_count == 2
    details = (await renewed_change(runtime, pk)).details
    assert details["scheduledChange"] == {"licenseCount": 2} and "chargedAmount" not in details
    assert [(status, amount) for _, _, status, amount, _ in await ledger(runtime)] == [("PAID", Decimal("8.00"))]
    assert [c["amount"] for c in processor.charges.values()] == [Decimal("8.00")]
    await assert_every_period_charged_once(runtime, processor)
