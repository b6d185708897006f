"""Renewals of every product with a moved clock: charged once per period (also when run twice or killed
mid-way), expiry, trials, dunning (PAST_DUE, email, retries, suspension, recovery), the manual trigger."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from test_renewals_kit import (
    LedgerProcessor,
    add_certificates,
    add_plain,
    assert_every_period_charged_once,
    ledger,
    moment,
)

from gateway.models import Notification
from gateway.relay import encode_id
from gateway.runtime import Runtime
from gateway.testing import HookRecorder, run_job, run_query
from plugins.certificates.models import CertificateInventory
from schema import models
from schema.catalog.pricing import add_period
from schema.subscriptions.events import SubscriptionEvent, SubscriptionPaymentFailed
from schema.subscriptions.renewals import RenewalRunIncomplete
from schema.testing import World

JOB = "subscriptions.renew"


@pytest.fixture
def gateway_plugins() -> None:
    return None  # every installed product: renewals of all four


async def four_products(runtime: Runtime, world: World, start: dt.datetime) -> dict[str, int]:
    return {
        "mail": await add_plain(runtime, world, "acme", "MAIL_STANDARD", 3, start=start,
                                add_ons={"MAIL_EXTRA_STORAGE": 2}),        # 3 × 4.00 + 2 × 2.00 (PREPAID)
        "desk": await add_plain(runtime, world, "acme", "DESK_STANDARD", 2, start=start,
                                add_ons={"DESK_SMS": 100}),                # 2 × 12.00; SMS is POSTPAID: not here
        "vertical": await add_plain(runtime, world, "direct", "VERTICAL_STARTER", 1, start=start),   # 15.00
        "certificates": await add_certificates(runtime, world, "direct", {"DV": 2}, start=start),     # yearly
    }


async def subscription(runtime: Runtime, pk: int) -> models.Subscription:
    async with runtime.sessions() as session:
        row = await session.get(models.Subscription, pk)
        assert row is not None
        return row


async def test_every_product_renews_and_each_period_is_charged_once(runtime: Runtime, products: World,
                                                                    processor: LedgerProcessor) -> None:
    start = moment(-40)
    subs = await four_products(runtime, products, start)
    monthly_end = add_period(start, "MONTHLY")
    after_month = monthly_end + dt.timedelta(hours=1)
    with HookRecorder(runtime.plugin_manager) as recorder:
        counts = await run_job(runtime, JOB, now=after_month)
    assert counts["renewed"] == 3 and counts["past_due"] == counts["errors"] == 0
    assert {(e.type, e.subscription_id) for e in recorder.events
            if isinstance(e, SubscriptionEvent) and e.type == "subscription.renewed"} == {("subscription.renewed", subs[k]) for k in ("mail", "desk", "vertical")}
    charged = {pk: amount for pk, _, status, amount, _ in await ledger(runtime) if status == "PAID"}
    assert charged == {subs["mail"]: Decimal("16.0000"), subs["desk"]: Decimal("24.0000"),
                       subs["vertical"]: Decimal("15.0000")}
    mail = await subscription(runtime, subs["mail"])
    assert (mail.current_period_start, mail.current_period_end) == (monthly_end, add_period(monthly_end, "MONTHLY"))
    assert mail.status == "ACTIVE" and mail.period_price_per_license == Decimal("4.0000")

    # the same day again, and later that day: nothing more
    assert (await run_job(runtime, JOB, now=after_month))["renewed"] == 0
    assert (await run_job(runtime, JOB, now=after_month + dt.timedelta(hours=5)))["renewed"] == 0
    assert len(processor.charges) == 3

    # a year on: the certificates renew (inventory rolled, renewal inventory charged), the monthly ones once more
    async with runtime.sessions() as session, session.begin():
        row = await session.scalar(select(CertificateInventory).where(
            CertificateInventory.subscription_id == subs["certificates"]))
        assert row is not None
        row.used, row.renewal = 2, 3
    a_year_on = add_period(start, "YEARLY") + dt.timedelta(hours=1)
    counts = await run_job(runtime, JOB, now=a_year_on)
    assert counts["renewed"] == 4
    async with runtime.sessions() as session:
        row = await session.scalar(select(CertificateInventory).where(
            CertificateInventory.subscription_id == subs["certificates"]))
        assert row is not None and (row.current, row.used, row.renewal) == (3, 0, 3)
    certificate_charges = [amount for pk, _, _, amount, _ in await ledger(runtime) if pk == subs["certificates"]]
    assert len(certificate_charges) == 1 and certificate_charges[0] > 0
    await assert_every_period_charged_once(runtime, processor)
    assert len(await ledger(runtime)) == 7


async def test_a_run_killed_after_the_processor_charged_never_charges_twice(
        runtime: Runtime, products: World, processor: LedgerProcessor) -> None:
    start = moment(-40)
    subs = await four_products(runtime, products, start)
    due = add_period(start, "MONTHLY") + dt.timedelta(hours=1)
    processor.crash_after_charging = f"renewal:{subs['desk']}:"
    with pytest.raises(RenewalRunIncomplete):
        await run_job(runtime, JOB, now=due)
    # the desk subscription's transaction rolled back: not renewed, but the processor holds its charge
    assert (await subscription(runtime, subs["desk"])).current_period_end == add_period(start, "MONTHLY")
    assert any(key.startswith(f"renewal:{subs['desk']}:") for key in processor.charges)
    assert {pk for pk, *_ in await ledger(runtime)} == {subs["mail"], subs["vertical"]}

    counts = await run_job(runtime, JOB, now=due)  # the engine's retry
    assert counts["renewed"] == 1 and counts["errors"] == 0
    desk_keys = [key for key in processor.calls if key.startswith(f"renewal:{subs['desk']}:")]
    assert len(desk_keys) == 2 and len(set(desk_keys)) == 1  # asked twice with the same key, charged once
    await assert_every_period_charged_once(runtime, processor)
    assert len(processor.charges) == 3


async def test_no_auto_renew_expires_and_an_ended_trial_expires_uncharged(
        runtime: Runtime, products: World, processor: LedgerProcessor) -> None:
    start = moment(-40)
    ending = await add_plain(runtime, products, "acme", "MAIL_STANDARD", 3, start=start, auto_renew=False)
    trial = await add_plain(runtime, products, "acme", "DESK_STANDARD", 2, start=start, status="TRIAL")
    certificate = await add_certificates(runtime, products, "direct", {"EV": 1}, start=moment(-400), auto_renew=False)
    with HookRecorder(runtime.plugin_manager) as recorder:
        counts = await run_job(runtime, JOB, now=moment())
    assert counts["expired"] == 3 and counts["renewed"] == 0
    for pk in (ending, trial, certificate):
        assert (await subscription(runtime, pk)).status == "EXPIRED"
    assert sorted(e.subscription_id for e in recorder.events
                  if isinstance(e, SubscriptionEvent) and e.type == "subscription.expired") == sorted(
        [ending, trial, certificate])
    assert processor.charges == {} and await ledger(runtime) == []
    async with runtime.sessions() as session:
        reasons: list[dict[str, Any]] = list(await session.scalars(select(models.SubscriptionChange.details).where(
            models.SubscriptionChange.kind == "EXPIRED").order_by(models.SubscriptionChange.subscription_id)))
    assert sorted(r["reason"] for r in reasons) == ["NOT_AUTO_RENEWED", "NOT_AUTO_RENEWED", "TRIAL_ENDED"]
    assert (await run_job(runtime, JOB, now=moment()))["expired"] == 0


async def outbox(runtime: Runtime) -> list[tuple[str, str]]:
    async with runtime.sessions() as session:
        return [(n.to, n.subject) for n in (await session.scalars(
            select(Notification).where(Notification.template == "subscription.payment_failed")
            .order_by(Notification.id))).all()]


async def test_dunning_retries_on_schedule_then_suspends_and_enabling_charges_first(
        runtime: Runtime, products: World, processor: LedgerProcessor) -> None:
    start = moment(-40)
    pk = await add_plain(runtime, products, "acme", "MAIL_STANDARD", 3, start=start)
    renewal = add_period(start, "MONTHLY") + dt.timedelta(hours=1)
    processor.declining = True
    with HookRecorder(runtime.plugin_manager) as recorder:
        assert (await run_job(runtime, JOB, now=renewal))["past_due"] == 1
        row = await subscription(runtime, pk)
        assert row.status == "PAST_DUE" and row.current_period_start == add_period(start, "MONTHLY")  # renewed, unpaid
        assert await outbox(runtime) == [("boss@acme.example", "Payment failed: Mail Standard of Acme Inc")]
        # retries at +1, +3 and +7 days after the first failure; nothing in between
        for days, expected in ((0.5, None), (1, "past_due"), (2, None), (3, "past_due"), (6.9, None),
                               (7, "suspended")):
            counts = await run_job(runtime, JOB, now=renewal + dt.timedelta(days=days))
            assert [k for k, v in counts.items() if v] == ([expected] if expected else []), (days, counts)
    failures = [e for e in recorder.events if isinstance(e, SubscriptionPaymentFailed)]
    assert [(e.attempt, e.status) for e in failures] == [(1, "PAST_DUE"), (2, "PAST_DUE"), (3, "PAST_DUE"),
                                                        (4, "SUSPENDED")]
    assert failures[0].next_attempt_at == renewal + dt.timedelta(days=1) and failures[-1].next_attempt_at is None
    row = await subscription(runtime, pk)
    assert (row.status, row.suspended_reason) == ("SUSPENDED", "PAYMENT_FAILED")
    assert len(await outbox(runtime)) == 4 and (await outbox(runtime))[-1][1].startswith("Subscription suspended")
    assert [status for _, _, status, _, _ in await ledger(runtime)] == ["FAILED"]
    assert (await run_job(runtime, JOB, now=renewal + dt.timedelta(days=30)))["renewed"] == 0  # suspended: left alone

    enable = """mutation($input: SubscriptionInput!) { enableSubscription(input: $input) {
        subscription { status suspendedReason } userErrors { code } } }"""
    variables = {"input": {"subscriptionId": encode_id("ProductSubscription", pk)}}
    refused = (await run_query(runtime, enable, variables, token=products.tokens["reseller_admin"])).ok()
    assert refused["enableSubscription"]["userErrors"] == [{"code": "PAYMENT_DECLINED"}]
    processor.declining = False
    data = (await run_query(runtime, enable, variables, token=products.tokens["reseller_admin"])).ok()
    assert data["enableSubscription"] == {"subscription": {"status": "ACTIVE", "suspendedReason": None},
                                          "userErrors": []}
    [(_, _, status, amount, payment_id)] = await ledger(runtime)
    assert (status, amount) == ("PAID", Decimal("12.0000")) and payment_id is not None
    await assert_every_period_charged_once(runtime, processor)


def _gid(pk: int) -> str:
    return encode_id("ProductSubscription", pk)


async def test_a_successful_retry_makes_it_active_again(runtime: Runtime, products: World,
                                                        processor: LedgerProcessor) -> None:
    start = moment(-40)
    pk = await add_plain(runtime, products, "direct", "VERTICAL_STARTER", 2, start=start)
    renewal = add_period(start, "MONTHLY") + dt.timedelta(hours=1)
    processor.declining = True
    await run_job(runtime, JOB, now=renewal)
    processor.declining = False
    counts = await run_job(runtime, JOB, now=renewal + dt.timedelta(days=1))
    assert counts["recovered"] == 1
    assert (await subscription(runtime, pk)).status == "ACTIVE"
    [(_, _, status, amount, _)] = await ledger(runtime)
    assert (status, amount) == ("PAID", Decimal("30.0000"))
    async with runtime.sessions() as session:
        kinds = (await session.scalars(select(models.SubscriptionChange.kind).where(
            models.SubscriptionChange.subscription_id == pk).order_by(models.SubscriptionChange.id))).all()
    assert kinds == ["RENEWED", "PAYMENT_FAILED", "PAYMENT_RECOVERED"]
    assert await outbox(runtime) == [("boss@direct.example", "Payment failed: Vertical Starter of Direct Inc")]
    await assert_every_period_charged_once(runtime, processor)
    assert (await run_job(runtime, JOB, now=renewal + dt.timedelta(days=3)))["past_due"] == 0  # no more retries


async def test_a_renewal_without_a_card_is_past_due(runtime: Runtime, products: World,
                                                    processor: LedgerProcessor) -> None:
    start = moment(-40)
    pk = await add_plain(runtime, products, "acme", "MAIL_STANDARD", 1, start=start)
    async with runtime.sessions() as session, session.begin():
        card = await session.scalar(select(models.PaymentMethod).where(
            models.PaymentMethod.organization_id == products.organizations["acme"]))
        await session.delete(card)
    await run_job(runtime, JOB, now=add_period(start, "MONTHLY"))
    assert (await subscription(runtime, pk)).status == "PAST_DUE"
    async with runtime.sessions() as session:
        charge = await session.scalar(select(models.RenewalCharge))
    assert charge is not None and charge.last_error is not None and charge.last_error.startswith("NO_PAYMENT_METHOD")
    assert processor.calls == []


RENEW = """mutation($input: RenewSubscriptionsInput) { renewSubscriptions(input: $input) {
  renewed { id status } expired { id } pastDue { id } suspended { id } userErrors { code } } }"""


async def test_the_platform_admins_manual_trigger_runs_the_same_sweep_for_every_product(
        runtime: Runtime, products: World, processor: LedgerProcessor) -> None:
    start = moment(-40)
    subs = await four_products(runtime, products, start)
    ending = await add_plain(runtime, products, "direct", "MAIL_STANDARD", 1, start=start, auto_renew=False)
    as_of = add_period(start, "MONTHLY") + dt.timedelta(hours=2)
    variables: dict[str, Any] = {"input": {"asOf": as_of.isoformat()}}
    refused = await run_query(runtime, RENEW, variables, token=products.tokens["reseller_admin"])
    assert refused.error_codes == ["FORBIDDEN"] and processor.charges == {}
    data = (await run_query(runtime, RENEW, variables, token=products.tokens["platform_admin"])).ok()["renewSubscriptions"]
    assert sorted(s["id"] for s in data["renewed"]) == sorted(_gid(subs[k]) for k in ("mail", "desk", "vertical"))
    assert data["expired"] == [{"id": _gid(ending)}] and data["pastDue"] == [] and data["userErrors"] == []
    assert (await run_job(runtime, JOB, now=as_of)) == {k: 0 for k in (
        "renewed", "past_due", "recovered", "suspended", "expired", "errors")}
    async with runtime.sessions() as session:
        change = await session.scalar(select(models.SubscriptionChange).where(
            models.SubscriptionChange.subscription_id == subs["mail"], models.SubscriptionChange.kind == "RENEWED"))
    assert change is not None and change.via == "PLATFORM" and change.actor_user_id == products.user_ids["platform_admin"]
    await assert_every_period_charged_once(runtime, processor)
