"""Scheduled changes (changeSubscription effective: AT_RENEWAL, cancelScheduledChange, scheduledChange): applied at
the renewal, not wiped by an immediate seat increase, cancelled; the invoice preview; every role."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from test_renewals_kit import (
    LedgerProcessor,
    add_plain,
    assert_every_period_charged_once,
    every_product_world,
    moment,
)

from gateway.relay import encode_id
from gateway.runtime import Runtime
from gateway.testing import run_job, run_query
from schema import models
from schema.catalog.pricing import add_period
from schema.testing import ROLES, World

JOB = "subscriptions.renew"
MANAGERS = {"platform_admin", "reseller_admin"}

CHANGE = """mutation($input: ChangeSubscriptionInput!) { changeSubscription(input: $input) {
  subscription { licenseCount plan { code } currentPeriodEnd
                 scheduledChange { planCode licenseCount storageGb addOns { code quantity } effectiveAt } }
  userErrors { code message field } } }"""
CANCEL = """mutation($input: SubscriptionInput!) { cancelScheduledChange(input: $input) {
  subscription { scheduledChange { licenseCount } } userErrors { code message } } }"""
INVOICE = """query($id: ID!) { organization(id: $id) { upcomingInvoice {
  lines { description amount { amount } prorated subscription { id } } total { amount } } } }"""


@pytest.fixture
def gateway_plugins() -> None:
    return None  # every installed product: renewals of all four


async def mail_subscription(runtime: Runtime) -> tuple[World, int, dt.datetime]:
    """acme's MAIL_STANDARD subscription, 10 licenses, 2 × extra storage, in a period around now."""
    world = await every_product_world(runtime)
    start = moment(-10)
    pk = await add_plain(runtime, world, "acme", "MAIL_STANDARD", 10, start=start, add_ons={"MAIL_EXTRA_STORAGE": 2})
    return world, pk, start


def change(pk: int, key: str, **fields: Any) -> dict[str, Any]:
    return {"input": {"subscriptionId": encode_id("ProductSubscription", pk), "idempotencyKey": key, **fields}}


async def test_a_scheduled_reduction_survives_an_immediate_increase_and_applies_at_the_renewal(
        runtime: Runtime, processor: LedgerProcessor) -> None:
    world, pk, start = await mail_subscription(runtime)
    token = world.tokens["reseller_admin"]
    data = (await run_query(runtime, CHANGE, change(pk, "s-1", licenseCount=4, effective="AT_RENEWAL",
                                                    addOns=[{"code": "MAIL_EXTRA_STORAGE", "quantity": 0}]),
                            token=token)).ok()["changeSubscription"]
    assert data["userErrors"] == []
    subscription = data["subscription"]
    assert subscription["licenseCount"] == 10  # nothing changes now
    assert subscription["scheduledChange"] == {
        "planCode": None, "licenseCount": 4, "storageGb": None, "addOns": [{"code": "MAIL_EXTRA_STORAGE", "quantity": 0}],
        "effectiveAt": subscription["currentPeriodEnd"]}
    async with runtime.sessions() as session:
        assert (await session.scalars(select(models.InvoiceLine))).all() == []  # nothing charged or credited now

    # an immediate increase: applied and pro-rated now; the scheduled change stays
    data = (await run_query(runtime, CHANGE, change(pk, "s-2", licenseCount=13), token=token)).ok()["changeSubscription"]
    assert data["subscription"]["licenseCount"] == 13
    assert data["subscription"]["scheduledChange"]["licenseCount"] == 4
    # scheduling again adds to the scheduled change: the plan now, licenses kept
    data = (await run_query(runtime, CHANGE, change(pk, "s-3", planCode="MAIL_PREMIUM", effective="AT_RENEWAL"),
                            token=token)).ok()["changeSubscription"]
    assert (data["subscription"]["plan"]["code"], data["subscription"]["scheduledChange"]["planCode"],
            data["subscription"]["scheduledChange"]["licenseCount"]) == ("MAIL_STANDARD", "MAIL_PREMIUM", 4)

    # the preview: this period's pro-rated +3 pending, the next period at the scheduled plan and licenses
    invoice = (await run_query(runtime, INVOICE, {"id": world.org_id("acme")}, token=token)).ok()[
        "organization"]["upcomingInvoice"]
    prorated = [line for line in invoice["lines"] if line["prorated"]]
    assert len(prorated) == 1 and "Pro-rated increase" in prorated[0]["description"]
    recurring = [line for line in invoice["lines"] if not line["prorated"]]
    assert [(line["description"].split(",")[0], line["amount"]["amount"]) for line in recurring] == [
        ("Mail Premium: 4 licenses", "32.00")]
    assert recurring[0]["description"].endswith("(scheduled change)")

    renewal = add_period(start, "MONTHLY") + dt.timedelta(hours=1)
    assert (await run_job(runtime, JOB, now=renewal))["renewed"] == 1
    async with runtime.sessions() as session:
        row = await session.get(models.Subscription, pk)
        assert row is not None and (row.license_count, row.plan_id) == (4, world.plans["MAIL_PREMIUM"])
        assert row.period_price_per_license == Decimal("8.0000")
        add_ons = (await session.scalars(select(models.SubscriptionAddOn).where(
            models.SubscriptionAddOn.subscription_id == pk))).all()
        assert add_ons == []
        assert await session.scalar(select(models.ScheduledSubscriptionChange)) is None
        charge = await session.scalar(select(models.RenewalCharge))
        assert charge is not None and (charge.amount, charge.status) == (Decimal("32.0000"), "PAID")
        renewed = await session.scalar(select(models.SubscriptionChange).where(
            models.SubscriptionChange.kind == "RENEWED"))
        assert renewed is not None and (renewed.from_licenses, renewed.to_licenses) == (13, 4)
    await assert_every_period_charged_once(runtime, processor)
    data = (await run_query(runtime, CHANGE, change(pk, "s-4", licenseCount=5), token=token)).ok()["changeSubscription"]
    assert data["subscription"]["scheduledChange"] is None


async def test_cancel_a_scheduled_change_and_refusals(runtime: Runtime, processor: LedgerProcessor) -> None:
    world, pk, start = await mail_subscription(runtime)
    token = world.tokens["reseller_admin"]
    gid = {"input": {"subscriptionId": encode_id("ProductSubscription", pk)}}
    data = (await run_query(runtime, CANCEL, gid, token=token)).ok()["cancelScheduledChange"]
    assert [e["code"] for e in data["userErrors"]] == ["NO_SCHEDULED_CHANGE"]
    assert (await run_query(runtime, CHANGE, change(pk, "c-1", licenseCount=2, effective="AT_RENEWAL"),
                            token=token)).ok()["changeSubscription"]["userErrors"] == []
    data = (await run_query(runtime, CANCEL, gid, token=token)).ok()["cancelScheduledChange"]
    assert data == {"subscription": {"scheduledChange": None}, "userErrors": []}
    await run_job(runtime, JOB, now=add_period(start, "MONTHLY"))
    async with runtime.sessions() as session:
        row = await session.get(models.Subscription, pk)
        assert row is not None and row.license_count == 10  # nothing applied
        kinds = (await session.scalars(select(models.SubscriptionChange.kind).where(
            models.SubscriptionChange.subscription_id == pk).order_by(models.SubscriptionChange.id))).all()
    assert kinds == ["SCHEDULED_CHANGE", "SCHEDULED_CHANGE_CANCELLED", "RENEWED"]

    for fields, code in [({}, "NOTHING_TO_CHANGE"), ({"licenseCount": 0}, "INVALID_LICENSE_COUNT"),
                         ({"planCode": "DESK_STANDARD"}, "PLAN_OF_ANOTHER_PRODUCT")]:
        data = (await run_query(runtime, CHANGE, change(pk, f"r-{code}", effective="AT_RENEWAL", **fields),
                                token=token)).ok()["changeSubscription"]
        assert [e["code"] for e in data["userErrors"]] == [code]
    async with runtime.sessions() as session, session.begin():
        row = await session.get(models.Subscription, pk)
        assert row is not None
        row.auto_renew = False
    data = (await run_query(runtime, CHANGE, change(pk, "r-off", licenseCount=3, effective="AT_RENEWAL"),
                            token=token)).ok()["changeSubscription"]
    assert [e["code"] for e in data["userErrors"]] == ["SUBSCRIPTION_NOT_RENEWING"]


async def test_an_expiry_drops_the_scheduled_change(runtime: Runtime, processor: LedgerProcessor) -> None:
    world, pk, start = await mail_subscription(runtime)
    assert (await run_query(runtime, CHANGE, change(pk, "e-1", licenseCount=2, effective="AT_RENEWAL"),
                            token=world.tokens["reseller_admin"])).ok()["changeSubscription"]["userErrors"] == []
    async with runtime.sessions() as session, session.begin():
        row = await session.get(models.Subscription, pk)
        assert row is not None
        row.auto_renew = False
    assert (await run_job(runtime, JOB, now=add_period(start, "MONTHLY")))["expired"] == 1
    async with runtime.sessions() as session:
        assert await session.scalar(select(models.ScheduledSubscriptionChange)) is None
    assert processor.charges == {}


def expected(role: str) -> str:
    if role == "anonymous":
        return "UNAUTHENTICATED"
    if role in MANAGERS:
        return "OK"
    if role == "org_super_admin":
        return "PARTNER_MANAGED_SUBSCRIPTION"
    return "FORBIDDEN"


async def outcome(runtime: Runtime, document: str, variables: dict[str, Any], token: str | None) -> str:
    result = await run_query(runtime, document, variables, token=token)
    if result.errors:
        return result.error_codes[0]
    [payload] = result.data.values()
    return payload["userErrors"][0]["code"] if payload["userErrors"] else "OK"


@pytest.mark.parametrize("role", ROLES)
async def test_schedule_and_cancel_for_every_role(runtime: Runtime, role: str) -> None:
    world, pk, _ = await mail_subscription(runtime)
    scheduled = await outcome(runtime, CHANGE, change(pk, "role-1", licenseCount=3, effective="AT_RENEWAL"),
                              world.tokens[role])
    assert scheduled == expected(role)
    async with runtime.sessions() as session, session.begin():
        if await session.scalar(select(models.ScheduledSubscriptionChange)) is None:
            session.add(models.ScheduledSubscriptionChange(subscription_id=pk, license_count=5))
    cancelled = await outcome(runtime, CANCEL, {"input": {"subscriptionId": encode_id("ProductSubscription", pk)}},
                              world.tokens[role])
    assert cancelled == expected(role)
    async with runtime.sessions() as session:
        left = await session.scalar(select(models.ScheduledSubscriptionChange))
        audits = (await session.scalars(select(models.AuditEvent.action).order_by(models.AuditEvent.id))).all()
    assert (left is None) == (expected(role) == "OK")
    assert audits == (["subscription.schedule_change", "subscription.cancel_scheduled_change"]
                      if expected(role) == "OK" else [])


READ = """query($id: ID!) { node(id: $id) { ... on ProductSubscription {
  currentPeriodEnd scheduledChange { licenseCount effectiveAt } } } }"""
READERS = {"platform_admin", "platform_analyst", "org_super_admin", "org_admin", "org_member", "reseller_admin",
           "reseller_analyst", "distributor_admin", "distributor_analyst"}


@pytest.mark.parametrize("role", ROLES)
async def test_who_reads_the_scheduled_change(runtime: Runtime, role: str) -> None:
    world, pk, _ = await mail_subscription(runtime)
    async with runtime.sessions() as session, session.begin():
        session.add(models.ScheduledSubscriptionChange(subscription_id=pk, license_count=5))
    result = await run_query(runtime, READ, {"id": encode_id("ProductSubscription", pk)}, token=world.tokens[role])
    if role == "anonymous":
        assert result.error_codes == ["UNAUTHENTICATED"]
        return
    node = result.ok()["node"]
    if node is None:
        assert role not in READERS, role
        return
    assert role in READERS, role
    assert node["scheduledChange"] == {"licenseCount": 5, "effectiveAt": node["currentPeriodEnd"]}
