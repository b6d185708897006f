"""Every desk_im mutation and read, for every role of schema.testing.ROLES: the exact outcome.

Outcomes: "ok" (data, no error), "ok:no-amounts" (a read without payment details), a user
error code, a top-level error code (FORBIDDEN, UNAUTHENTICATED), or "hidden" (the
organization itself is not visible to the viewer). The test kit's ``assert_access_matrix`` walks
the roles one after the other on one world and reports every mismatch at once.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.testing import GraphQLResult, RoleClient
from plugins.desk_im.tests.world import balance, give_credits, key
from schema.testing import ROLES

F, U = "FORBIDDEN", "UNAUTHENTICATED"
EVERYONE_REFUSED = {role: F for role in ROLES} | {"anonymous": U}

# purchaseImCredits on acme: mapped to the reseller, which also has delegated access
PURCHASE_ON_MAPPED = EVERYONE_REFUSED | {
    "platform_admin": "ok", "reseller_admin": "ok", "org_super_admin": "PARTNER_MANAGED_SUBSCRIPTION",
}
# purchaseImCredits on direct: a direct customer buys for itself
PURCHASE_ON_DIRECT = EVERYONE_REFUSED | {"platform_admin": "ok", "direct_super_admin": "ok"}
PURCHASE_ON = {"acme": PURCHASE_ON_MAPPED, "direct": PURCHASE_ON_DIRECT}
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


PURCHASE = """mutation($input: PurchaseImCreditsInput!) { purchaseImCredits(input: $input) {
  account { balance } transaction { credits amount { amount } } userErrors { code } } }"""
MESSAGES = """mutation($input: RecordImMessagesInput!) { recordImMessages(input: $input) {
  account { balance } transaction { credits } userErrors { code } } }"""
ADD_ON_USAGE = """mutation($input: RecordAddOnUsageInput!) { recordAddOnUsage(input: $input) {
  payment { amount { amount } } userErrors { code } } }"""
READ_CREDITS = """query($id: ID!) { organization(id: $id) { imCredits { balance
  transactions(first: 5) { edges { node { credits amount { amount } cardOwner } } } } } }"""


def carries(field: str, expect_object: str) -> Callable[[str, GraphQLResult], None]:
    """The ok check of a mutation: its payload carries the object (the kit's outcome already read the errors)."""
    def check(role: str, result: GraphQLResult) -> None:
        assert result.data[field][expect_object] is not None, result
    return check


@pytest.mark.parametrize("org", ["acme", "direct"])
async def test_purchase_im_credits_by_role(runtime, world, client: RoleClient, assert_access_matrix, org):
    before: dict[str, int] = {}

    async def run(role: str, token: str | None) -> GraphQLResult:
        before[role] = await balance(runtime, world.organizations[org])
        return await client.query(PURCHASE, {"input": {
            "organizationId": world.org_id(org), "credits": 10, "idempotencyKey": key(world, f"{org}-{role}")}},
            role=role)

    def bought(role: str, result: GraphQLResult) -> None:
        carries("purchaseImCredits", "transaction")(role, result)
        assert result.data["purchaseImCredits"]["account"]["balance"] == before[role] + 10
        assert result.data["purchaseImCredits"]["transaction"]["amount"] == {"amount": "0.50"}

    await assert_access_matrix(PURCHASE_ON[org], run, ok=bought)


async def test_record_im_messages_by_role(runtime, world, client: RoleClient, assert_access_matrix):
    await give_credits(runtime, world.organizations["acme"], 10 * len(ROLES))
    before: dict[str, int] = {}

    async def run(role: str, token: str | None) -> GraphQLResult:
        before[role] = await balance(runtime, world.organizations["acme"])
        return await client.query(MESSAGES, {"input": {
            "organizationId": world.org_id("acme"), "channel": "WHATSAPP", "count": 2,
            "idempotencyKey": key(world, f"m-{role}")}}, role=role)

    def recorded(role: str, result: GraphQLResult) -> None:
        carries("recordImMessages", "transaction")(role, result)
        assert result.data["recordImMessages"]["account"]["balance"] == before[role] - 2

    await assert_access_matrix(METERING, run, ok=recorded)


async def test_record_add_on_usage_by_role(world, client: RoleClient, assert_access_matrix):
    async def run(role: str, token: str | None) -> GraphQLResult:
        return await client.query(ADD_ON_USAGE, {"input": {
            "subscriptionId": world.subscription_id("acme_desk"), "addOnCode": "DESK_SMS", "quantity": 20}}, role=role)

    def charged(role: str, result: GraphQLResult) -> None:
        carries("recordAddOnUsage", "payment")(role, result)
        assert result.data["recordAddOnUsage"]["payment"]["amount"] == {"amount": "1.00"}

    await assert_access_matrix(METERING, run, ok=charged)


async def test_read_im_credits_by_role(world, client: RoleClient, assert_access_matrix):
    bought = await client.query(PURCHASE, {"input": {
        "organizationId": world.org_id("acme"), "credits": 40, "idempotencyKey": key(world, "r")}},
        role="reseller_admin")
    assert bought.ok()["purchaseImCredits"]["userErrors"] == []

    async def run(role: str, token: str | None) -> GraphQLResult:
        return await client.query(READ_CREDITS, {"id": world.org_id("acme")}, role=role)

    def what_is_shown(role: str, result: GraphQLResult) -> str:
        if result.data["organization"] is None:
            return "hidden"
        credits = result.data["organization"]["imCredits"]
        assert credits["balance"] == 40
        node = credits["transactions"]["edges"][0]["node"]
        assert node["credits"] == 40
        return "ok" if node["amount"] == {"amount": "2.00"} and node["cardOwner"] == "RESELLER_CARD" else (
            "ok:no-amounts" if node["amount"] is None and node["cardOwner"] is None else "partial")

    await assert_access_matrix(READ, run, ok=what_is_shown)
