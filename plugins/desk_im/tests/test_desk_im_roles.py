"""Every desk_im mutation and read, for every role of schema.testing.ROLES: the exact outcome.

Outcomes: "ok" (data, no error), "ok:no-amounts" (a read without payment details), a user
error code, a top-level error code (FORBIDDEN, UNAUTHENTICATED), or "hidden" (the
organization itself is not visible to the viewer).
"""

from __future__ import annotations

import pytest

from gateway.testing import GraphQLResult, run_query
from plugins.desk_im.tests.world import build_desk_world, give_credits, key
from schema.testing import ROLES

F, U = "FORBIDDEN", "UNAUTHENTICATED"
EVERYONE_REFUSED = {role: F for role in ROLES} | {"anonymous": U}

# purchaseImCredits on acme: mapped to the reseller, which also has delegated access
PURCHASE_ON_MAPPED = EVERYONE_REFUSED | {
    "platform_admin": "ok", "reseller_admin": "ok", "org_super_admin": "PARTNER_MANAGED_SUBSCRIPTION",
}
# purchaseImCredits on direct: a direct customer buys for itself
PURCHASE_ON_DIRECT = EVERYONE_REFUSED | {"platform_admin": "ok", "direct_super_admin": "ok"}
# recordImMessages / recordAddOnUsage: metering only
METERING = EVERYONE_REFUSED | {"platform_admin": "ok", "messaging_service": "ok"}
# Organization.imCredits on acme
READ = {
    "platform_admin": "ok", "platform_analyst": "ok:no-amounts",
    "messaging_service": "hidden",  # the core does not show it organizations; its payloads carry the balance
    "org_super_admin": "ok", "org_admin": "ok", "org_member": F,
    "reseller_admin": "ok", "reseller_analyst": "ok:no-amounts",
    "distributor_admin": "ok:no-amounts", "distributor_analyst": "ok:no-amounts",
    "other_partner_admin": "hidden", "developer": "hidden", "direct_super_admin": "hidden", "no_role": "hidden",
    "anonymous": U,
}


def test_every_role_has_an_expected_outcome():
    for table in (PURCHASE_ON_MAPPED, PURCHASE_ON_DIRECT, METERING, READ):
        assert set(table) == set(ROLES)


def mutation_outcome(result: GraphQLResult, field: str, expect_object: str) -> str:
    if result.errors:
        return result.error_codes[0]
    payload = result.data[field]
    if payload["userErrors"]:
        code: str = payload["userErrors"][0]["code"]
        return code
    assert payload[expect_object] is not None
    return "ok"


PURCHASE = """mutation($input: PurchaseImCreditsInput!) { purchaseImCredits(input: $input) {
  account { balance } transaction { credits amount { amount } } userErrors { code } } }"""
MESSAGES = """mutation($input: RecordImMessagesInput!) { recordImMessages(input: $input) {
  account { balance } transaction { credits } userErrors { code } } }"""
ADD_ON_USAGE = """mutation($input: RecordAddOnUsageInput!) { recordAddOnUsage(input: $input) {
  payment { amount { amount } } userErrors { code } } }"""
READ_CREDITS = """query($id: ID!) { organization(id: $id) { imCredits { balance
  transactions(first: 5) { edges { node { credits amount { amount } cardOwner } } } } } }"""


@pytest.mark.parametrize("role", ROLES)
async def test_purchase_im_credits_by_role(runtime, role):
    world = await build_desk_world(runtime)
    for org, table in (("acme", PURCHASE_ON_MAPPED), ("direct", PURCHASE_ON_DIRECT)):
        result = await run_query(runtime, PURCHASE, {"input": {
            "organizationId": world.org_id(org), "credits": 10, "idempotencyKey": key(world, org)}},
            token=world.tokens[role])
        assert mutation_outcome(result, "purchaseImCredits", "transaction") == table[role], (org, result)
        if table[role] == "ok":
            assert result.data["purchaseImCredits"]["account"]["balance"] == 10
            assert result.data["purchaseImCredits"]["transaction"]["amount"] == {"amount": "0.50"}


@pytest.mark.parametrize("role", ROLES)
async def test_record_im_messages_by_role(runtime, role):
    world = await build_desk_world(runtime)
    await give_credits(runtime, world.organizations["acme"], 10)
    result = await run_query(runtime, MESSAGES, {"input": {
        "organizationId": world.org_id("acme"), "channel": "WHATSAPP", "count": 2,
        "idempotencyKey": key(world, "m")}}, token=world.tokens[role])
    assert mutation_outcome(result, "recordImMessages", "transaction") == METERING[role], result
    if METERING[role] == "ok":
        assert result.data["recordImMessages"]["account"]["balance"] == 8


@pytest.mark.parametrize("role", ROLES)
async def test_record_add_on_usage_by_role(runtime, role):
    world = await build_desk_world(runtime)
    result = await run_query(runtime, ADD_ON_USAGE, {"input": {
        "subscriptionId": world.subscription_id("acme_desk"), "addOnCode": "DESK_SMS", "quantity": 20}},
        token=world.tokens[role])
    assert mutation_outcome(result, "recordAddOnUsage", "payment") == METERING[role], result
    if METERING[role] == "ok":
        assert result.data["recordAddOnUsage"]["payment"]["amount"] == {"amount": "1.00"}


@pytest.mark.parametrize("role", ROLES)
async def test_read_im_credits_by_role(runtime, role):
    world = await build_desk_world(runtime)
    bought = await run_query(runtime, PURCHASE, {"input": {
        "organizationId": world.org_id("acme"), "credits": 40, "idempotencyKey": key(world, "r")}},
        token=world.tokens["reseller_admin"])
    assert bought.ok()["purchaseImCredits"]["userErrors"] == []
    result = await run_query(runtime, READ_CREDITS, {"id": world.org_id("acme")}, token=world.tokens[role])
    if result.errors:
        outcome = result.error_codes[0]
    elif result.data["organization"] is None:
        outcome = "hidden"
    else:
        credits = result.data["organization"]["imCredits"]
        assert credits["balance"] == 40
        node = credits["transactions"]["edges"][0]["node"]
        assert node["credits"] == 40
        outcome = "ok" if node["amount"] == {"amount": "2.00"} and node["cardOwner"] == "RESELLER_CARD" else (
            "ok:no-amounts" if node["amount"] is None and node["cardOwner"] is None else "partial")
    assert outcome == READ[role], result
