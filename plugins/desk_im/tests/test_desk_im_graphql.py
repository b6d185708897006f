"""The desk_im API through GraphQL: purchase, usage, post-paid usage, reading the ledger, no N+1."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from gateway.relay import encode_id
from gateway.testing import run_query
from plugins.desk_im import service
from plugins.desk_im.models import ImCreditTransaction
from plugins.desk_im.tests.world import balance, build_desk_world, count_rows, give_credits, key, set_card_token
from schema import models
from schema.models import AuditEvent

PURCHASE = """
mutation($input: PurchaseImCreditsInput!) { purchaseImCredits(input: $input) {
  account { balance }
  transaction { id kind credits channel amount { amount currency } cardOwner actor { email } }
  userErrors { field message code } } }"""
MESSAGES = """
mutation($input: RecordImMessagesInput!) { recordImMessages(input: $input) {
  account { balance } transaction { id kind credits channel messageCount amount { amount } }
  userErrors { field message code } } }"""
ADD_ON_USAGE = """
mutation($input: RecordAddOnUsageInput!) { recordAddOnUsage(input: $input) {
  payment { id amount { amount currency } cardOwner description organization { domain } }
  userErrors { field message code } } }"""
CREDITS = """
query($id: ID!, $first: Int, $after: String) { organization(id: $id) { imCredits { balance
  transactions(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind credits channel amount { amount } cardOwner actor { email } } } } } } }"""


async def buy(runtime, world, org, credits, name, role="reseller_admin"):
    return await run_query(runtime, PURCHASE, {"input": {
        "organizationId": world.org_id(org), "credits": credits, "idempotencyKey": key(world, name)}},
        token=world.tokens[role])


async def send(runtime, world, org, channel, count, name, role="messaging_service"):
    return await run_query(runtime, MESSAGES, {"input": {
        "organizationId": world.org_id(org), "channel": channel, "count": count, "idempotencyKey": key(world, name)}},
        token=world.tokens[role])


async def test_partner_admin_buys_credits_and_the_audit_log_says_so(runtime):
    world = await build_desk_world(runtime)
    result = (await buy(runtime, world, "acme", 200, "p1")).ok()["purchaseImCredits"]
    assert result["userErrors"] == []
    assert result["account"] == {"balance": 200}
    transaction = result["transaction"]
    assert {k: transaction[k] for k in ("kind", "credits", "channel", "amount", "cardOwner", "actor")} == {
        "kind": "PURCHASE", "credits": 200, "channel": None, "amount": {"amount": "10.00", "currency": "USD"},
        "cardOwner": "RESELLER_CARD", "actor": {"email": "admin@resell.example"}}
    async with runtime.sessions() as session:
        events = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "desk_im.purchase_credits"))).all()
    assert len(events) == 1
    event = events[0]
    assert (event.organization_id, event.partner_id, event.actor_user_id) == (
        world.organizations["acme"], world.partners["reseller"], world.user_ids["reseller_admin"])
    assert event.via in ("PARTNER_ADMIN", "PARTNER_MAPPING")
    assert event.details["credits"] == 200 and event.details["cardOwner"] == "RESELLER_CARD"


async def test_replayed_purchase_returns_the_first_transaction_and_audits_once(runtime):
    world = await build_desk_world(runtime)
    first = (await buy(runtime, world, "acme", 20, "same")).ok()["purchaseImCredits"]
    again = (await buy(runtime, world, "acme", 20, "same")).ok()["purchaseImCredits"]
    assert again["transaction"]["id"] == first["transaction"]["id"] and again["account"]["balance"] == 20
    assert await count_rows(runtime, models.Payment) == 1
    assert await count_rows(runtime, AuditEvent, action="desk_im.purchase_credits") == 1


@pytest.mark.parametrize("credits, card, code", [
    (100_001, "tok_ok", "PURCHASE_ABOVE_MAXIMUM"), (0, "tok_ok", "INVALID_CREDITS"),
    (10, None, "NO_PAYMENT_METHOD"), (10, "tok_decline", "PAYMENT_DECLINED"),
])
async def test_purchase_refusals_are_user_errors_and_nothing_is_charged(runtime, credits, card, code):
    world = await build_desk_world(runtime)
    await set_card_token(runtime, world.organizations["acme"], card)
    result = (await buy(runtime, world, "acme", credits, "refused")).ok()["purchaseImCredits"]
    assert [e["code"] for e in result["userErrors"]] == [code]
    assert result["account"] is None and result["transaction"] is None
    assert result["userErrors"][0]["message"]
    assert await count_rows(runtime, models.Payment) == 0
    assert await count_rows(runtime, ImCreditTransaction) == 0
    assert await count_rows(runtime, AuditEvent, action="desk_im.purchase_credits") == 0


async def test_super_admin_of_a_mapped_organization_is_sent_to_its_partner(runtime):
    world = await build_desk_world(runtime)
    result = (await buy(runtime, world, "acme", 10, "self", role="org_super_admin")).ok()["purchaseImCredits"]
    assert [e["code"] for e in result["userErrors"]] == ["PARTNER_MANAGED_SUBSCRIPTION"]
    assert "Resell One" in result["userErrors"][0]["message"]
    direct = (await buy(runtime, world, "direct", 10, "self", role="direct_super_admin")).ok()["purchaseImCredits"]
    assert direct["userErrors"] == [] and direct["transaction"]["cardOwner"] == "CUSTOMER_CARD"


async def test_messages_consume_credits_and_insufficient_credits_is_a_user_error(runtime):
    world = await build_desk_world(runtime)
    await give_credits(runtime, world.organizations["acme"], 5)
    used = (await send(runtime, world, "acme", "WHATSAPP", 3, "m1")).ok()["recordImMessages"]
    assert used["userErrors"] == [] and used["account"]["balance"] == 2
    assert {k: used["transaction"][k] for k in ("kind", "credits", "channel", "messageCount", "amount")} == {
        "kind": "USAGE", "credits": -3, "channel": "WHATSAPP", "messageCount": 3, "amount": None}
    refused = (await send(runtime, world, "acme", "WHATSAPP", 3, "m2")).ok()["recordImMessages"]
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [("INSUFFICIENT_CREDITS", ["count"])]
    free = (await send(runtime, world, "acme", "LINE", 9, "m3")).ok()["recordImMessages"]
    assert (free["transaction"]["credits"], free["account"]["balance"]) == (0, 2)
    replay = (await send(runtime, world, "acme", "WHATSAPP", 3, "m1")).ok()["recordImMessages"]
    assert replay["transaction"]["id"] == used["transaction"]["id"] and replay["account"]["balance"] == 2
    assert await balance(runtime, world.organizations["acme"]) == 2
    assert await count_rows(runtime, AuditEvent, action="desk_im.record_messages") == 2


async def test_unknown_channel_is_rejected_by_the_schema(runtime):
    world = await build_desk_world(runtime)
    result = await send(runtime, world, "acme", "SMS", 1, "x")
    assert result.data is None and result.errors


async def test_postpaid_add_on_usage_returns_its_payment(runtime):
    world = await build_desk_world(runtime)
    result = (await run_query(runtime, ADD_ON_USAGE, {"input": {
        "subscriptionId": world.subscription_id("acme_desk"), "addOnCode": "DESK_SMS", "quantity": 40,
        "idempotencyKey": key(world, "sms-1")}}, token=world.tokens["messaging_service"])).ok()["recordAddOnUsage"]
    assert result["userErrors"] == []
    assert result["payment"]["amount"] == {"amount": "2.00", "currency": "USD"}
    assert result["payment"]["cardOwner"] == "RESELLER_CARD"
    assert result["payment"]["organization"] == {"domain": "acme.example"}
    prepaid = (await run_query(runtime, ADD_ON_USAGE, {"input": {
        "subscriptionId": world.subscription_id("acme_mail"), "addOnCode": "MAIL_EXTRA_STORAGE", "quantity": 1}},
        token=world.tokens["platform_admin"])).ok()["recordAddOnUsage"]
    assert prepaid["payment"] is None
    assert [(e["code"], e["field"]) for e in prepaid["userErrors"]] == [("ADD_ON_NOT_POSTPAID", ["addOnCode"])]
    missing = await run_query(runtime, ADD_ON_USAGE, {"input": {
        "subscriptionId": encode_id("ProductSubscription", 999_999), "addOnCode": "DESK_SMS", "quantity": 1}},
        token=world.tokens["platform_admin"])
    assert missing.error_codes == ["NOT_FOUND"]
    assert await count_rows(runtime, models.Payment) == 1
    assert await count_rows(runtime, AuditEvent, action="desk_im.record_add_on_usage") == 1


async def test_ledger_pages_newest_first_and_analysts_see_no_amounts(runtime):
    world = await build_desk_world(runtime)
    (await buy(runtime, world, "acme", 30, "p1")).ok()
    for n in range(1, 4):
        (await send(runtime, world, "acme", "WHATSAPP", n, f"m{n}")).ok()
    variables = {"id": world.org_id("acme"), "first": 2}
    page = (await run_query(runtime, CREDITS, variables, token=world.tokens["reseller_admin"])).ok()
    credits = page["organization"]["imCredits"]
    assert credits["balance"] == 24
    connection = credits["transactions"]
    assert connection["totalCount"] == 4 and connection["pageInfo"]["hasNextPage"]
    assert [e["node"]["credits"] for e in connection["edges"]] == [-3, -2]
    rest = (await run_query(runtime, CREDITS, {**variables, "after": connection["pageInfo"]["endCursor"]},
                            token=world.tokens["reseller_admin"])).ok()["organization"]["imCredits"]["transactions"]
    assert [e["node"]["credits"] for e in rest["edges"]] == [-1, 30] and not rest["pageInfo"]["hasNextPage"]
    purchase = rest["edges"][1]["node"]
    assert (purchase["amount"], purchase["cardOwner"], purchase["actor"]) == (
        {"amount": "1.50"}, "RESELLER_CARD", {"email": "admin@resell.example"})
    analyst = (await run_query(runtime, CREDITS, {"id": world.org_id("acme"), "first": 10},
                               token=world.tokens["reseller_analyst"])).ok()["organization"]["imCredits"]
    assert analyst["balance"] == 24
    nodes = [e["node"] for e in analyst["transactions"]["edges"]]
    assert [n["credits"] for n in nodes] == [-3, -2, -1, 30]
    assert all(n["amount"] is None and n["cardOwner"] is None and n["actor"] is None for n in nodes)


async def test_organization_without_desk_has_no_credit_account(runtime):
    world = await build_desk_world(runtime)
    result = (await run_query(runtime, CREDITS, {"id": world.org_id("unverified")},
                              token=world.tokens["reseller_admin"])).ok()
    assert result["organization"]["imCredits"] is None
    with_desk = (await run_query(runtime, CREDITS, {"id": world.org_id("direct")},
                                 token=world.tokens["direct_super_admin"])).ok()
    assert with_desk["organization"]["imCredits"] == {"balance": 0, "transactions": {
        "totalCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": []}}


async def test_members_may_not_read_credits(runtime):
    world = await build_desk_world(runtime)
    result = await run_query(runtime, CREDITS, {"id": world.org_id("acme")}, token=world.tokens["org_member"])
    assert result.data["organization"]["imCredits"] is None
    assert result.error_codes == ["FORBIDDEN"]


async def test_transaction_is_a_node_visible_to_credit_readers_only(runtime):
    world = await build_desk_world(runtime)
    created = (await buy(runtime, world, "acme", 10, "n1")).ok()["purchaseImCredits"]["transaction"]["id"]
    query = "query($id: ID!) { node(id: $id) { ... on ImCreditTransaction { kind credits amount { amount } } } }"
    admin = (await run_query(runtime, query, {"id": created}, token=world.tokens["reseller_admin"])).ok()
    assert admin["node"] == {"kind": "PURCHASE", "credits": 10, "amount": {"amount": "0.50"}}
    analyst = (await run_query(runtime, query, {"id": created}, token=world.tokens["platform_analyst"])).ok()
    assert analyst["node"] == {"kind": "PURCHASE", "credits": 10, "amount": None}
    for role in ("org_member", "other_partner_admin", "developer"):
        assert (await run_query(runtime, query, {"id": created}, token=world.tokens[role])).ok()["node"] is None


LIST = """{ organizations(first: 50) { nodes { domain imCredits { balance
  transactions(first: 3) { totalCount edges { node { kind credits amount { amount } actor { email } } } } } } } }"""


async def add_customers(runtime, world, count: int, start: int = 0) -> None:
    """More DESK customers of the reseller, each with a few ledger rows by different actors."""
    async with runtime.sessions() as session, session.begin():
        for n in range(start, start + count):
            org = models.Organization(name=f"Desk {n}", domain=f"desk{n}-{key(world, 'x')}.example",
                                      domain_verified=True, domain_verification_code="v", status="ACTIVE",
                                      partner_id=world.partners["reseller"])
            session.add(org)
            await session.flush()
            session.add(models.Subscription(
                organization_id=org.id, product_id=world.products["DESK"], plan_id=world.plans["DESK_STANDARD"],
                status="ACTIVE", license_count=1, current_period_start=org.created_at,
                current_period_end=org.created_at))
            for actor in ("reseller_admin", "platform_admin", "messaging_service"):
                await service.adjust_credits(session, org.id, 10 + n, "seed", actor_user_id=world.user_ids[actor])


async def test_reading_credits_of_many_organizations_takes_a_fixed_number_of_statements(runtime, world, client,
                                                                                         count_sql):
    reseller = client.as_role("reseller_admin")
    await add_customers(runtime, world, 2)
    with count_sql() as few:
        small = (await reseller.query(LIST)).ok()
    await add_customers(runtime, world, 6, start=2)
    with count_sql() as many:
        large = (await reseller.query(LIST)).ok()
    with_credits = [n for n in large["organizations"]["nodes"] if n["imCredits"] and n["imCredits"]["balance"]]
    assert len(with_credits) == 8 > len([n for n in small["organizations"]["nodes"] if n["imCredits"]])
    assert all(len(n["imCredits"]["transactions"]["edges"]) == 3 for n in with_credits)
    assert many.count == few.count, (few.statements, many.statements)
