"""GraphQL-level tests of subscriptions: every mutation for every role, idempotency, reads, filters, statement counts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, update

from gateway.db import utcnow
from gateway.relay import encode_id
from gateway.testing import count_statements, run_query
from schema import models
from schema.catalog.service import sync_catalog
from schema.models import AuditEvent
from schema.testing import ROLES, World, build_world, declared_catalogs

OK = "OK"
MANAGERS = {"platform_admin", "reseller_admin"}
UTC = dt.UTC


async def setup_world(runtime: Any) -> World:
    world = await build_world(runtime)
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        await sync_catalog(session, declared_catalogs())  # every installed plugin's products
        for key in ("acme", "direct"):
            session.add(models.PaymentMethod(organization_id=world.organizations[key], owner="CUSTOMER_CARD",
                                             processor_token="tok_ok", brand="VISA", last4="4242", exp_month=12,
                                             exp_year=2099))
        # a period around now, so mid-period changes are pro-rated whatever the day the tests run
        await session.execute(update(models.Subscription).values(
            current_period_start=now - dt.timedelta(days=10), current_period_end=now + dt.timedelta(days=20)))
    return world


async def _trial(runtime: Any, world: World) -> dict[str, Any]:
    async with runtime.sessions() as session, session.begin():
        now = utcnow()
        row = models.Subscription(organization_id=world.organizations["acme"], product_id=world.products["MAIL"],
                                  plan_id=world.plans["MAIL_PREMIUM"], status="TRIAL", license_count=3,
                                  current_period_start=now, current_period_end=now + dt.timedelta(days=15),
                                  trial_ends_at=now + dt.timedelta(days=15))
        session.add(row)
        await session.flush()
        return {"subscriptionId": encode_id("ProductSubscription", row.id), "idempotencyKey": "buy-1"}


async def _suspended(runtime: Any, world: World) -> dict[str, Any]:
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.Subscription).where(
            models.Subscription.id == world.subscriptions["acme_mail"]).values(status="SUSPENDED"))
    return {"subscriptionId": world.subscription_id("acme_mail")}


CASES: dict[str, tuple[str, Callable[..., Any]]] = {}


def case(mutation: str, input_type: str, make: Callable[..., Any]) -> None:
    CASES[mutation] = (input_type, make)


def _const(value: Callable[[World], dict[str, Any]]) -> Callable[..., Any]:
    async def make(runtime: Any, world: World) -> dict[str, Any]:
        return value(world)
    return make


case("addSubscription", "AddSubscriptionInput", _const(lambda w: {
    "organizationId": w.org_id("acme"), "planCode": "DESK_STANDARD", "licenseCount": 4, "idempotencyKey": "add-1",
    "addOns": [{"code": "DESK_SMS", "quantity": 1}]}))
case("purchaseSubscription", "PurchaseSubscriptionInput", _trial)
case("changeSubscription", "ChangeSubscriptionInput", _const(lambda w: {
    "subscriptionId": w.subscription_id("acme_mail"), "licenseCount": 12, "idempotencyKey": "chg-1"}))
case("setAutoRenew", "SetAutoRenewInput", _const(lambda w: {
    "subscriptionId": w.subscription_id("acme_mail"), "autoRenew": False}))
case("suspendSubscription", "SubscriptionInput", _const(lambda w: {"subscriptionId": w.subscription_id("acme_mail")}))
case("enableSubscription", "SubscriptionInput", _suspended)


def expected(role: str) -> str:
    if role == "anonymous":
        return "UNAUTHENTICATED"
    if role in MANAGERS:
        return OK
    if role == "org_super_admin":
        return "PARTNER_MANAGED_SUBSCRIPTION"  # acme is mapped to the reseller: contact the partner
    return "FORBIDDEN"


async def outcome(runtime: Any, mutation: str, input_type: str, variables: dict[str, Any], token: str | None) -> str:
    document = (f"mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ "
                "subscription { id status licenseCount } userErrors { code message field } } }")
    result = await run_query(runtime, document, {"input": variables}, token=token)
    if result.errors:
        return result.error_codes[0]
    payload = result.data[mutation]
    if payload["userErrors"]:
        assert payload["subscription"] is None
        return payload["userErrors"][0]["code"]
    assert payload["subscription"]["id"].startswith("UHJvZHVjdFN1YnNjcmlwdGlvbj")
    return OK


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("mutation", list(CASES))
async def test_subscription_mutation_outcome_for_role(runtime: Any, mutation: str, role: str) -> None:
    world = await setup_world(runtime)
    input_type, make = CASES[mutation]
    variables = await make(runtime, world)
    async with runtime.sessions() as session:
        changes_before = await session.scalar(select(func.count()).select_from(models.SubscriptionChange))
    result = await outcome(runtime, mutation, input_type, variables, world.tokens[role])
    assert result == expected(role), f"{mutation} as {role}"
    async with runtime.sessions() as session:
        changes = await session.scalar(select(func.count()).select_from(models.SubscriptionChange))
        audits = await session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("subscription.%")))
    assert changes == changes_before + (1 if result == OK else 0)  # refusals leave no trace
    assert audits == (1 if result == OK else 0)


@pytest.mark.parametrize("mutation", list(CASES))
async def test_a_disabled_reseller_cannot_touch_subscriptions(runtime: Any, mutation: str) -> None:
    world = await setup_world(runtime)
    input_type, make = CASES[mutation]
    variables = await make(runtime, world)
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.Partner).where(models.Partner.id == world.partners["reseller"])
                              .values(status="DISABLED"))
    assert await outcome(runtime, mutation, input_type, variables, world.tokens["reseller_admin"]) == "RESELLER_DISABLED"


@pytest.mark.parametrize("role, result", [("direct_super_admin", OK), ("platform_admin", OK), ("reseller_admin", "FORBIDDEN"),
                                          ("org_super_admin", "FORBIDDEN"), ("platform_analyst", "FORBIDDEN")])
async def test_a_direct_customer_manages_its_own(runtime: Any, role: str, result: str) -> None:
    world = await setup_world(runtime)
    variables = {"subscriptionId": world.subscription_id("direct_mail"), "licenseCount": 11, "idempotencyKey": "d-1"}
    assert await outcome(runtime, "changeSubscription", "ChangeSubscriptionInput", variables, world.tokens[role]) == result


CHANGE = """mutation($input: ChangeSubscriptionInput!) { changeSubscription(input: $input) {
  subscription { licenseCount plan { code } storageGb addOns { addOn { code } quantity } }
  userErrors { code message field } } }"""


async def test_change_idempotency_and_prorated_invoice(runtime: Any) -> None:
    world = await setup_world(runtime)
    token = world.tokens["reseller_admin"]
    variables = {"input": {"subscriptionId": world.subscription_id("acme_mail"), "licenseCount": 15,
                           "idempotencyKey": "same-key"}}
    first = (await run_query(runtime, CHANGE, variables, token=token)).ok()["changeSubscription"]
    second = (await run_query(runtime, CHANGE, variables, token=token)).ok()["changeSubscription"]
    assert first == second and first["subscription"]["licenseCount"] == 15 and first["userErrors"] == []
    async with runtime.sessions() as session:
        lines = (await session.scalars(select(models.InvoiceLine))).all()
        changes = (await session.scalars(select(models.SubscriptionChange))).all()
    assert len(lines) == 1 and len(changes) == 1
    # the same key with another request is refused
    variables["input"]["licenseCount"] = 20
    reused = (await run_query(runtime, CHANGE, variables, token=token)).ok()["changeSubscription"]
    assert reused["userErrors"][0]["code"] == "IDEMPOTENCY_KEY_REUSED" and reused["subscription"] is None


ADD = """mutation($input: AddSubscriptionInput!) { addSubscription(input: $input) {
  subscription { id status licenseCount trialEndsAt product { code } plan { code trialDays } }
  userErrors { code message field } } }"""


async def test_add_idempotency_charges_once(runtime: Any) -> None:
    world = await setup_world(runtime)
    token = world.tokens["direct_super_admin"]
    variables = {"input": {"organizationId": world.org_id("direct"), "planCode": "VERTICAL_STARTER",
                           "licenseCount": 2, "idempotencyKey": "k"}}
    first = (await run_query(runtime, ADD, variables, token=token)).ok()["addSubscription"]
    second = (await run_query(runtime, ADD, variables, token=token)).ok()["addSubscription"]
    assert first["subscription"]["id"] == second["subscription"]["id"]
    async with runtime.sessions() as session:
        payments = (await session.scalars(select(models.Payment))).all()
    assert [p.amount for p in payments] == [30] and payments[0].card_owner == "CUSTOMER_CARD"


async def test_trial_via_graphql_uses_trial_days(runtime: Any) -> None:
    world = await setup_world(runtime)
    variables = {"input": {"organizationId": world.org_id("direct"), "planCode": "VERTICAL_STARTER",
                           "licenseCount": 2, "trial": True, "idempotencyKey": "t"}}
    data = (await run_query(runtime, ADD, variables, token=world.tokens["direct_super_admin"])).ok()["addSubscription"]
    sub = data["subscription"]
    assert sub["status"] == "TRIAL" and sub["plan"]["trialDays"] == 30
    ends = dt.datetime.fromisoformat(sub["trialEndsAt"])
    assert abs((ends - utcnow()) - dt.timedelta(days=30)) < dt.timedelta(minutes=5)


@pytest.mark.parametrize("input_patch, code, field", [
    ({"licenseCount": 0}, "INVALID_LICENSE_COUNT", ["licenseCount"]),
    ({"planCode": "DESK_STANDARD"}, "PLAN_OF_ANOTHER_PRODUCT", ["planCode"]),
    ({"planCode": "UNKNOWN"}, "UNKNOWN_PLAN", ["planCode"]),
])
async def test_invalid_change_user_errors_via_graphql(runtime: Any, input_patch: dict[str, Any], code: str,
                                                      field: list[str]) -> None:
    world = await setup_world(runtime)
    variables = {"input": {"subscriptionId": world.subscription_id("direct_mail"), "idempotencyKey": "x", **input_patch}}
    data = (await run_query(runtime, CHANGE, variables, token=world.tokens["direct_super_admin"])).ok()
    [error] = data["changeSubscription"]["userErrors"]
    assert (error["code"], error["field"]) == (code, field) and error["message"]


async def test_purchase_an_active_one_and_enable_a_cancelled_one_are_user_errors(runtime: Any) -> None:
    world = await setup_world(runtime)
    token = world.tokens["direct_super_admin"]
    sub = world.subscription_id("direct_mail")
    purchase = await run_query(runtime, """mutation($i: PurchaseSubscriptionInput!) { purchaseSubscription(input: $i) {
        userErrors { code message } } }""", {"i": {"subscriptionId": sub, "idempotencyKey": "p"}}, token=token)
    assert purchase.ok()["purchaseSubscription"]["userErrors"][0]["code"] == "ALREADY_PURCHASED"
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.Subscription).where(models.Subscription.id == world.subscriptions["direct_mail"])
                              .values(status="CANCELLED"))
    enable = await run_query(runtime, """mutation($i: SubscriptionInput!) { enableSubscription(input: $i) {
        userErrors { code message } } }""", {"i": {"subscriptionId": sub}}, token=token)
    assert enable.ok()["enableSubscription"]["userErrors"][0]["code"] == "SUBSCRIPTION_CANCELLED"


async def test_partner_managed_error_names_the_partner(runtime: Any) -> None:
    world = await setup_world(runtime)
    result = await run_query(runtime, CHANGE, {"input": {"subscriptionId": world.subscription_id("acme_mail"),
                                                         "licenseCount": 11, "idempotencyKey": "z"}},
                             token=world.tokens["org_super_admin"])
    [error] = result.ok()["changeSubscription"]["userErrors"]
    assert error["code"] == "PARTNER_MANAGED_SUBSCRIPTION" and "contact your partner Resell One" in error["message"]


# ---------------------------------------------------------------- reads
SUBSCRIPTIONS = """query($id: ID!, $filter: SubscriptionFilter) { organization(id: $id) {
  subscriptions(first: 10, filter: $filter) { totalCount nodes { id status licenseCount product { code } plan { code }
    changes(first: 5) { totalCount nodes { kind fromLicenses toLicenses fromPlan { code } toPlan { code }
      actor { email } via at } } } } } }"""


async def test_changes_history_shows_who_when_and_how(runtime: Any) -> None:
    world = await setup_world(runtime)
    await run_query(runtime, CHANGE, {"input": {"subscriptionId": world.subscription_id("acme_mail"),
                                                "planCode": "MAIL_PREMIUM", "licenseCount": 12, "idempotencyKey": "h"}},
                    token=world.tokens["reseller_admin"])
    data = (await run_query(runtime, SUBSCRIPTIONS, {"id": world.org_id("acme")}, token=world.tokens["org_member"])).ok()
    [sub] = data["organization"]["subscriptions"]["nodes"]
    [change] = sub["changes"]["nodes"]
    assert change["kind"] == "CHANGED" and change["fromPlan"]["code"] == "MAIL_STANDARD"
    assert change["toPlan"]["code"] == "MAIL_PREMIUM" and (change["fromLicenses"], change["toLicenses"]) == (10, 12)
    assert change["actor"]["email"] == "admin@resell.example" and change["via"] == "PARTNER_ADMIN"


@pytest.mark.parametrize("role, visible", [
    ("org_member", True), ("reseller_analyst", True), ("distributor_analyst", True), ("platform_analyst", True),
    ("developer", False), ("other_partner_admin", False), ("direct_super_admin", False),
])
async def test_who_reads_subscriptions(runtime: Any, role: str, visible: bool) -> None:
    world = await setup_world(runtime)
    result = await run_query(runtime, "query($id: ID!) { node(id: $id) { id ... on ProductSubscription { licenseCount } } }",
                             {"id": world.subscription_id("acme_mail")}, token=world.tokens[role])
    assert (result.ok()["node"] is not None) is visible


async def test_subscription_filter_is_applied(runtime: Any) -> None:
    world = await setup_world(runtime)
    token = world.tokens["platform_admin"]
    for plan in ("DESK_STANDARD", "VERTICAL_STARTER"):
        await run_query(runtime, ADD, {"input": {"organizationId": world.org_id("acme"), "planCode": plan,
                                                 "licenseCount": 1, "trial": True, "idempotencyKey": plan}}, token=token)

    async def codes(filter: dict[str, Any]) -> list[str]:
        data = (await run_query(runtime, SUBSCRIPTIONS, {"id": world.org_id("acme"), "filter": filter}, token=token)).ok()
        return [n["plan"]["code"] for n in data["organization"]["subscriptions"]["nodes"]]

    assert await codes({}) == ["MAIL_STANDARD", "DESK_STANDARD", "VERTICAL_STARTER"]
    assert await codes({"status": ["TRIAL"]}) == ["DESK_STANDARD", "VERTICAL_STARTER"]
    assert await codes({"productCode": "DESK"}) == ["DESK_STANDARD"]
    assert await codes({"planCode": "MAIL_STANDARD"}) == ["MAIL_STANDARD"]
    assert await codes({"country": ["US"]}) == ["MAIL_STANDARD", "DESK_STANDARD", "VERTICAL_STARTER"]
    assert await codes({"country": ["DE"]}) == []
    assert await codes({"partnerId": world.partner_id("reseller"), "status": ["ACTIVE"]}) == ["MAIL_STANDARD"]
    assert await codes({"createdAfter": (utcnow() + dt.timedelta(days=1)).isoformat()}) == []
    bad = await run_query(runtime, SUBSCRIPTIONS, {"id": world.org_id("acme"), "filter": {"country": ["XX"]}}, token=token)
    assert bad.error_codes == ["BAD_USER_INPUT"]


async def test_subscriptions_paginate_with_keyset_cursors(runtime: Any) -> None:
    world = await setup_world(runtime)
    token = world.tokens["platform_admin"]
    for plan in ("DESK_STANDARD", "VERTICAL_STARTER"):
        await run_query(runtime, ADD, {"input": {"organizationId": world.org_id("acme"), "planCode": plan,
                                                 "licenseCount": 1, "trial": True, "idempotencyKey": plan}}, token=token)
    page = """query($id: ID!, $after: String) { organization(id: $id) { subscriptions(first: 2, after: $after) {
      pageInfo { hasNextPage endCursor } nodes { plan { code } } } } }"""
    first = (await run_query(runtime, page, {"id": world.org_id("acme")}, token=token)).ok()["organization"]["subscriptions"]
    assert [n["plan"]["code"] for n in first["nodes"]] == ["MAIL_STANDARD", "DESK_STANDARD"]
    assert first["pageInfo"]["hasNextPage"]
    second = (await run_query(runtime, page, {"id": world.org_id("acme"), "after": first["pageInfo"]["endCursor"]},
                              token=token)).ok()["organization"]["subscriptions"]
    assert [n["plan"]["code"] for n in second["nodes"]] == ["VERTICAL_STARTER"] and not second["pageInfo"]["hasNextPage"]


# ---------------------------------------------------------------- statement counts
async def add_organizations(runtime: Any, world: World, count: int) -> None:
    """``count`` more customers of the reseller, each with two subscriptions (one with an add-on), a card and a line."""
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        plans = {p.code: p for p in (await session.scalars(select(models.Plan))).all()}
        add_on = await session.scalar(select(models.AddOn).where(models.AddOn.code == "MAIL_EXTRA_STORAGE"))
        orgs = [models.Organization(name=f"Bulk {i}", domain=f"bulk{i}-{count}.example", domain_verified=True,
                                    domain_verification_code="x", status="ACTIVE", country="US",
                                    partner_id=world.partners["reseller"], created_at=now) for i in range(count)]
        session.add_all(orgs)
        await session.flush()
        subs = []
        for org in orgs:
            for code in ("MAIL_PREMIUM", "DESK_STANDARD"):
                subs.append(models.Subscription(
                    organization_id=org.id, product_id=plans[code].product_id, plan_id=plans[code].id, status="ACTIVE",
                    license_count=5, storage_gb=60, current_period_start=now, current_period_end=now + dt.timedelta(days=30)))
            session.add(models.PaymentMethod(organization_id=org.id, owner="RESELLER_CARD", processor_token="t",
                                             brand="VISA", last4="1111", exp_month=1, exp_year=2099))
            session.add(models.InvoiceLine(organization_id=org.id, description="credit", amount=-1, currency="USD"))
        session.add_all(subs)
        await session.flush()
        session.add_all([models.SubscriptionAddOn(subscription_id=s.id, add_on_id=add_on.id, quantity=2)
                         for s in subs if s.plan_id == plans["MAIL_PREMIUM"].id])
        session.add_all([models.SubscriptionChange(subscription_id=s.id, kind="ADDED", to_plan_id=s.plan_id)
                         for s in subs])


CONSOLE = """query($id: ID!) { partner(id: $id) { customers(first: 100) { nodes { id
  subscriptions(first: 10) { nodes { status plan { code } addOns { quantity addOn { code } }
    changes(first: 2) { nodes { kind toPlan { code } } } } }
  paymentMethod { owner last4 } payments(first: 3) { nodes { id } }
  upcomingInvoice { total { amount } lines { amount { amount } subscription { id } } } } } } }"""


async def test_statement_count_does_not_depend_on_the_number_of_organizations(runtime: Any) -> None:
    world = await setup_world(runtime)
    counts = []
    for batch in (10, 60):
        await add_organizations(runtime, world, batch)
        with count_statements(runtime) as counter:
            data = (await run_query(runtime, CONSOLE, {"id": world.partner_id("reseller")},
                                    token=world.tokens["reseller_admin"])).ok()
        nodes = data["partner"]["customers"]["nodes"]
        assert len(nodes) >= batch and all(n["upcomingInvoice"]["lines"] for n in nodes[:3])
        counts.append(counter.count)
    assert counts[0] == counts[1], counts


async def test_a_change_is_a_node_for_those_who_read_subscriptions(runtime: Any) -> None:
    world = await setup_world(runtime)
    await run_query(runtime, CHANGE, {"input": {"subscriptionId": world.subscription_id("acme_mail"),
                                                "licenseCount": 14, "idempotencyKey": "n"}},
                    token=world.tokens["reseller_admin"])
    async with runtime.sessions() as session:
        change_id = encode_id("SubscriptionChange", await session.scalar(select(models.SubscriptionChange.id)))
    query = "query($id: ID!) { node(id: $id) { ... on SubscriptionChange { kind toLicenses } } }"
    seen = (await run_query(runtime, query, {"id": change_id}, token=world.tokens["org_member"])).ok()
    assert seen["node"] == {"kind": "CHANGED", "toLicenses": 14}
    hidden = (await run_query(runtime, query, {"id": change_id}, token=world.tokens["other_partner_admin"])).ok()
    assert hidden["node"] is None
