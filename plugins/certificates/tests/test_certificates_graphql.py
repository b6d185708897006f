"""The certificates plugin through GraphQL: catalog, subscriptions, inventory, use, renewals, invoices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update

from gateway.db import utcnow
from gateway.relay import encode_id
from gateway.testing import make_test_runtime, run_query
from plugins.certificates.service import add_years
from plugins.certificates.testing import add_subscription, certificate_world, items
from schema.models import InvoiceLine, Partner, Payment, Subscription

ADD_SUBSCRIPTIONS = """
mutation($input: AddCertificateSubscriptionsInput!) {
  addCertificateSubscriptions(input: $input) {
    subscriptions { id autoRenew status product { code } plan { code } currentPeriodStart currentPeriodEnd
                    certificateInventory { certificateType { code unitPrice { amount currency } } current renewal used available } }
    userErrors { field code message }
  }
}"""
ADD_INVENTORY = """
mutation($input: AddCertificateInventoryInput!) {
  addCertificateInventory(input: $input) {
    subscription { id certificateInventory { certificateType { code } current renewal used } }
    userErrors { field code message }
  }
}"""
USE = """
mutation($input: UseCertificateInventoryInput!) {
  useCertificateInventory(input: $input) {
    subscription { id status }
    inventoryLine { certificateType { code } current used available }
    userErrors { field code message }
  }
}"""
RENEW = """
mutation($input: RenewSubscriptionsInput) {
  renewSubscriptions(input: $input) {
    renewed { id currentPeriodStart currentPeriodEnd certificateInventory { certificateType { code } current renewal used } }
    expired { id status }
    userErrors { code message }
  }
}"""


def _inventory(subscription):
    return {line["certificateType"]["code"]: (line["current"], line["renewal"], line["used"])
            for line in subscription["certificateInventory"]}


async def test_certificate_types_are_the_catalog_with_yearly_prices(runtime):
    world = await certificate_world(runtime)
    query = "{ certificateTypes { id code name unitPrice { amount currency } } }"
    data = (await run_query(runtime, query, token=world.tokens["org_member"])).ok()
    prices = {t["code"]: t["unitPrice"] for t in data["certificateTypes"]}
    assert sorted(prices) == ["CODE_SIGNING", "DV", "EV", "MULTI_DOMAIN", "OV", "WILDCARD"]
    assert prices["OV"] == {"amount": "149.00", "currency": "USD"}
    ov_id = next(t["id"] for t in data["certificateTypes"] if t["code"] == "OV")
    node = (await run_query(runtime, "query($id: ID!) { node(id: $id) { ... on CertificateType { code } } }",
                            {"id": ov_id}, token=world.tokens["org_member"])).ok()
    assert node == {"node": {"code": "OV"}}
    assert (await run_query(runtime, query)).error_codes == ["UNAUTHENTICATED"]


async def test_reseller_adds_several_subscriptions_in_one_call_idempotently(runtime):
    world = await certificate_world(runtime)
    variables: dict[str, Any] = {"input": {"organizationId": world.org_id("acme"), "idempotencyKey": "k1", "subscriptions": [
        {"items": items([("DV", 10), ("WILDCARD", 2)]), "autoRenew": True},
        {"items": items([("EV", 1)]), "autoRenew": False},
    ]}}
    before = utcnow()
    result = (await run_query(runtime, ADD_SUBSCRIPTIONS, variables, token=world.tokens["reseller_admin"])).ok()
    payload = result["addCertificateSubscriptions"]
    assert payload["userErrors"] == []
    first, second = payload["subscriptions"]
    assert (first["autoRenew"], second["autoRenew"]) == (True, False)
    assert first["product"]["code"] == "CERTIFICATES" and first["plan"]["code"] == "CERT_STANDARD"
    assert _inventory(first) == {"DV": (10, 10, 0), "WILDCARD": (2, 2, 0)}
    assert _inventory(second) == {"EV": (1, 1, 0)}
    assert first["certificateInventory"][0]["available"] == 10
    start = dt.datetime.fromisoformat(first["currentPeriodStart"])
    assert before <= start <= utcnow()
    assert dt.datetime.fromisoformat(first["currentPeriodEnd"]) == add_years(start)

    async with runtime.sessions() as session:
        lines = await session.scalar(select(func.count(InvoiceLine.id)))
        subscriptions = await session.scalar(select(func.count(Subscription.id)))
    replay = (await run_query(runtime, ADD_SUBSCRIPTIONS, variables, token=world.tokens["reseller_admin"])).ok()
    assert [s["id"] for s in replay["addCertificateSubscriptions"]["subscriptions"]] == [first["id"], second["id"]]
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count(InvoiceLine.id))) == lines == 3  # DV, WILDCARD, EV first years
        assert await session.scalar(select(func.count(Subscription.id))) == subscriptions
    variables["input"]["subscriptions"][1]["autoRenew"] = True
    reused = (await run_query(runtime, ADD_SUBSCRIPTIONS, variables, token=world.tokens["reseller_admin"])).ok()
    assert [e["code"] for e in reused["addCertificateSubscriptions"]["userErrors"]] == ["IDEMPOTENCY_KEY_REUSED"]


async def test_invalid_items_are_user_errors_and_nothing_is_added(runtime):
    world = await certificate_world(runtime)
    variables = {"input": {"organizationId": world.org_id("direct"), "idempotencyKey": "bad", "subscriptions": [
        {"items": items([("DV", 1)])}, {"items": items([("NOPE", 1)])}]}}
    data = (await run_query(runtime, ADD_SUBSCRIPTIONS, variables, token=world.tokens["direct_super_admin"])).ok()
    [error] = data["addCertificateSubscriptions"]["userErrors"]
    assert (error["code"], error["field"]) == ("UNKNOWN_CERTIFICATE_TYPE",
                                               ["subscriptions", "1", "items", "0", "certificateTypeCode"])
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count(Subscription.id)).where(
            Subscription.organization_id == world.organizations["direct"])) == 1  # only build_world's mail


async def test_current_inventory_is_billed_pro_rated_on_the_upcoming_invoice(runtime):
    world = await certificate_world(runtime)
    now = utcnow()
    start = now - dt.timedelta(days=100)
    sub_id = await add_subscription(runtime, world.organizations["acme"], {"OV": 1}, now=start)
    sub_gid = encode_id("ProductSubscription", sub_id)
    token = world.tokens["reseller_admin"]
    current = {"input": {"subscriptionId": sub_gid, "kind": "CURRENT", "items": items([("OV", 2)])}}
    data = (await run_query(runtime, ADD_INVENTORY, current, token=token)).ok()["addCertificateInventory"]
    assert data["userErrors"] == []
    assert _inventory(data["subscription"]) == {"OV": (3, 1, 0)}
    renewal = {"input": {"subscriptionId": sub_gid, "kind": "RENEWAL", "items": items([("OV", 4), ("DV", 5)])}}
    data = (await run_query(runtime, ADD_INVENTORY, renewal, token=token)).ok()["addCertificateInventory"]
    assert _inventory(data["subscription"]) == {"OV": (3, 5, 0), "DV": (0, 5, 0)}

    end = add_years(start)
    days = (end.date() - start.date()).days
    left = (end.date() - now.date()).days
    expected = (Decimal("298") * left / days).quantize(Decimal("0.01"))
    invoice = (await run_query(runtime, """query($id: ID!) { organization(id: $id) { upcomingInvoice {
        lines { description amount { amount currency } prorated subscription { id } } } } }""",
        {"id": world.org_id("acme")}, token=token)).ok()["organization"]["upcomingInvoice"]
    prorated = [line for line in invoice["lines"] if line["prorated"]]
    assert len(prorated) == 1  # RENEWAL costs nothing now
    assert prorated[0]["amount"] == {"amount": str(expected), "currency": "USD"}
    assert prorated[0]["subscription"] == {"id": sub_gid}
    assert f"{left}/{days} days" in prorated[0]["description"]
    first_year = [line for line in invoice["lines"] if line["description"].startswith("1 × Organization Validated")]
    assert [line["amount"]["amount"] for line in first_year] == ["149.00"]


async def test_reductions_through_graphql(runtime):
    world = await certificate_world(runtime)
    sub_id = await add_subscription(runtime, world.organizations["direct"], {"DV": 2})
    gid = encode_id("ProductSubscription", sub_id)
    token = world.tokens["direct_super_admin"]
    for _ in range(2):
        assert (await run_query(runtime, USE, {"input": {"subscriptionId": gid, "certificateTypeCode": "DV"}},
                                token=token)).ok()["useCertificateInventory"]["userErrors"] == []
    below_used = {"input": {"subscriptionId": gid, "kind": "CURRENT", "items": items([("DV", -1)])}}
    data = (await run_query(runtime, ADD_INVENTORY, below_used, token=token)).ok()["addCertificateInventory"]
    assert [(e["code"], e["field"]) for e in data["userErrors"]] == [("CURRENT_BELOW_USED", ["items", "0", "quantity"])]
    below_zero = {"input": {"subscriptionId": gid, "kind": "RENEWAL", "items": items([("DV", -3)])}}
    data = (await run_query(runtime, ADD_INVENTORY, below_zero, token=token)).ok()["addCertificateInventory"]
    assert [e["code"] for e in data["userErrors"]] == ["RENEWAL_BELOW_ZERO"]
    fewer = {"input": {"subscriptionId": gid, "kind": "RENEWAL", "items": items([("DV", -2)])}}
    data = (await run_query(runtime, ADD_INVENTORY, fewer, token=token)).ok()["addCertificateInventory"]
    assert _inventory(data["subscription"]) == {"DV": (2, 0, 2)}


async def test_use_until_none_left_and_suspension_through_core_mutations(runtime):
    world = await certificate_world(runtime)
    sub_id = await add_subscription(runtime, world.organizations["direct"], {"EV": 1, "DV": 3})
    gid = encode_id("ProductSubscription", sub_id)
    token = world.tokens["direct_super_admin"]
    use = {"input": {"subscriptionId": gid, "certificateTypeCode": "EV"}}
    data = (await run_query(runtime, USE, use, token=token)).ok()["useCertificateInventory"]
    assert data["inventoryLine"] == {"certificateType": {"code": "EV"}, "current": 1, "used": 1, "available": 0}
    data = (await run_query(runtime, USE, use, token=token)).ok()["useCertificateInventory"]
    assert [(e["code"], e["field"]) for e in data["userErrors"]] == [("NO_INVENTORY_LEFT", ["certificateTypeCode"])]

    toggle = "mutation($id: ID!) { %s(input: {subscriptionId: $id}) { subscription { status } userErrors { code } } }"
    suspended = (await run_query(runtime, toggle % "suspendSubscription", {"id": gid}, token=token)).ok()
    assert suspended["suspendSubscription"] == {"subscription": {"status": "SUSPENDED"}, "userErrors": []}
    use_dv = {"input": {"subscriptionId": gid, "certificateTypeCode": "DV"}}
    data = (await run_query(runtime, USE, use_dv, token=token)).ok()["useCertificateInventory"]
    assert [e["code"] for e in data["userErrors"]] == ["SUBSCRIPTION_SUSPENDED"]
    enabled = (await run_query(runtime, toggle % "enableSubscription", {"id": gid}, token=token)).ok()
    assert enabled["enableSubscription"]["subscription"] == {"status": "ACTIVE"}
    data = (await run_query(runtime, USE, use_dv, token=token)).ok()["useCertificateInventory"]
    assert data["userErrors"] == [] and data["inventoryLine"]["used"] == 1


async def test_disabled_reseller_cannot_add_subscriptions_or_inventory(runtime):
    world = await certificate_world(runtime)
    sub_id = await add_subscription(runtime, world.organizations["acme"], {"DV": 3})
    gid = encode_id("ProductSubscription", sub_id)
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Partner).where(Partner.id == world.partners["reseller"]).values(status="DISABLED"))
    token = world.tokens["reseller_admin"]
    add = {"input": {"organizationId": world.org_id("acme"), "idempotencyKey": "x",
                     "subscriptions": [{"items": items([("DV", 1)])}]}}
    data = (await run_query(runtime, ADD_SUBSCRIPTIONS, add, token=token)).ok()["addCertificateSubscriptions"]
    assert [e["code"] for e in data["userErrors"]] == ["RESELLER_DISABLED"]
    for kind in ("CURRENT", "RENEWAL"):
        change = {"input": {"subscriptionId": gid, "kind": kind, "items": items([("DV", 1)])}}
        data = (await run_query(runtime, ADD_INVENTORY, change, token=token)).ok()["addCertificateInventory"]
        assert [e["code"] for e in data["userErrors"]] == ["RESELLER_DISABLED"]
    data = (await run_query(runtime, USE, {"input": {"subscriptionId": gid, "certificateTypeCode": "DV"}},
                            token=token)).ok()["useCertificateInventory"]
    assert [e["code"] for e in data["userErrors"]] == ["RESELLER_DISABLED"]
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count(Subscription.id)).where(
            Subscription.organization_id == world.organizations["acme"])) == 2  # mail + the one above


async def test_renewals_through_graphql_are_idempotent_and_emit_renewal_due(runtime, backend):
    world = await certificate_world(runtime)
    start = utcnow() - dt.timedelta(days=400)
    renewing = await add_subscription(runtime, world.organizations["acme"], {"DV": 2}, auto_renew=True)
    expiring = await add_subscription(runtime, world.organizations["direct"], {"EV": 1}, auto_renew=False, now=start)
    fresh = await add_subscription(runtime, world.organizations["direct"], {"EV": 1}, auto_renew=False)
    gid = encode_id("ProductSubscription", renewing)
    change = {"input": {"subscriptionId": gid, "kind": "RENEWAL", "items": items([("DV", 3)])}}
    assert (await run_query(runtime, ADD_INVENTORY, change, token=world.tokens["reseller_admin"])).ok()[
        "addCertificateInventory"]["userErrors"] == []
    async with runtime.sessions() as session, session.begin():  # its first year started 400 days ago
        await session.execute(update(Subscription).where(Subscription.id == renewing)
                              .values(current_period_start=start, current_period_end=add_years(start)))

    admin = world.tokens["platform_admin"]
    data = (await run_query(runtime, RENEW, {"input": {}}, token=admin)).ok()["renewSubscriptions"]
    assert [s["id"] for s in data["renewed"]] == [gid]
    assert data["expired"] == [{"id": encode_id("ProductSubscription", expiring), "status": "EXPIRED"}]
    assert _inventory(data["renewed"][0]) == {"DV": (5, 5, 0)}
    assert dt.datetime.fromisoformat(data["renewed"][0]["currentPeriodStart"]) == add_years(start)
    async with runtime.sessions() as session:
        # the core's renewal charges the card on file once for the period: 5 × 49 (no invoice line: it is paid)
        payments = (await session.scalars(select(Payment).where(
            Payment.organization_id == world.organizations["acme"]))).all()
        assert [(p.amount, p.description.startswith("Renewal")) for p in payments] == [(Decimal("245.0000"), True)]
        assert "5 × Domain Validated" in payments[0].description
        assert (await session.get(Subscription, fresh)).status == "ACTIVE"
        lines = await session.scalar(select(func.count(InvoiceLine.id)))
    again = (await run_query(runtime, RENEW, {"input": {}}, token=admin)).ok()["renewSubscriptions"]
    assert (again["renewed"], again["expired"]) == ([], [])
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count(InvoiceLine.id))) == lines
        assert await session.scalar(select(func.count(Payment.id))) == 1

    # the core's renewal-due event is emitted once per due subscription, with the asOf given; the renewal follows
    from schema.subscriptions.events import SubscriptionRenewalDue, SubscriptionRenewed

    seen = []
    changes = []

    class Spy:
        from gateway.hookspecs import hookimpl

        @staticmethod
        @hookimpl
        def gateway_event(ctx, event):
            if isinstance(event, SubscriptionRenewalDue):
                seen.append((event.subscription_id, event.as_of))
            elif isinstance(event, SubscriptionRenewed):
                changes.append((event.subscription_id, event.change_kind))

    from gateway.testing import clear_tables, create_tables
    spy_runtime = make_test_runtime(backend, plugins=["certificates"], extra_plugins=[("spy", Spy)])
    try:
        await create_tables(spy_runtime)
        await clear_tables(spy_runtime)
        world = await certificate_world(spy_runtime)
        due = await add_subscription(spy_runtime, world.organizations["direct"], {"DV": 1}, now=start)
        as_of = utcnow().replace(microsecond=0)
        data = (await run_query(spy_runtime, RENEW, {"input": {"asOf": as_of.isoformat()}},
                                token=world.tokens["platform_admin"])).ok()["renewSubscriptions"]
        assert len(data["renewed"]) == 1
        assert seen == [(due, as_of)]
        assert changes == [(due, "RENEWED")]
    finally:
        await clear_tables(spy_runtime)
        await spy_runtime.dispose()


async def test_certificate_inventory_is_one_batch_null_for_other_products(runtime, world, client, count_sql):
    query = """query($id: ID!) { organization(id: $id) { subscriptions(first: 100) { nodes {
        product { code } certificateInventory { certificateType { code name } current renewal used } } } } }"""

    async def run():
        with count_sql() as counter:
            data = (await client.query(query, {"id": world.org_id("acme")}, role="reseller_admin")).ok()
        return counter.count, data["organization"]["subscriptions"]["nodes"]

    await add_subscription(runtime, world.organizations["acme"], {"DV": 1, "OV": 2})
    few_count, few = await run()
    for _ in range(6):
        await add_subscription(runtime, world.organizations["acme"], {"DV": 1, "EV": 1, "WILDCARD": 3})
    many_count, many = await run()
    assert len(many) == 8
    assert many_count == few_count
    mail = [n for n in many if n["product"]["code"] == "MAIL"]
    assert [n["certificateInventory"] for n in mail] == [None]
    assert sum(len(n["certificateInventory"] or []) for n in many) == 2 + 6 * 3


async def test_inventory_readers_follow_subscription_readers(runtime):
    world = await certificate_world(runtime)
    sub_id = await add_subscription(runtime, world.organizations["acme"], {"DV": 1})
    query = "query($id: ID!) { node(id: $id) { ... on ProductSubscription { certificateInventory { current } } } }"
    variables = {"id": encode_id("ProductSubscription", sub_id)}
    for role in ("org_member", "reseller_analyst", "distributor_analyst", "platform_analyst"):
        data = (await run_query(runtime, query, variables, token=world.tokens[role])).ok()
        assert data == {"node": {"certificateInventory": [{"current": 1}]}}, role
    for role in ("other_partner_admin", "developer", "direct_super_admin"):
        assert (await run_query(runtime, query, variables, token=world.tokens[role])).ok() == {"node": None}, role
