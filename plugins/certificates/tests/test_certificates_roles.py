"""Every certificates mutation for every role of schema.testing.ROLES, with the exact outcome.

The organization is ``acme`` (mapped to the reseller, which also has delegated admin access).
"ok" means the mutation did its work (checked) and wrote its audit event; a code in capitals
that is a user error is listed in USER_ERRORS; otherwise it is the top-level error code.
The test kit's ``assert_access_matrix`` walks the roles (each on a fresh subscription) and
reports every mismatch at once.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from gateway.relay import encode_id
from gateway.testing import GraphQLResult, RoleClient, run_query
from plugins.certificates.testing import add_subscription, items
from schema.models import AuditEvent
from schema.testing import ROLES

USER_ERRORS = {"PARTNER_MANAGED_SUBSCRIPTION"}
F, U = "FORBIDDEN", "UNAUTHENTICATED"

MANAGE = {
    "platform_admin": "ok", "platform_analyst": F, "messaging_service": F,
    "org_super_admin": "PARTNER_MANAGED_SUBSCRIPTION", "org_admin": F, "org_member": F,
    "reseller_admin": "ok", "reseller_analyst": F, "distributor_admin": F, "distributor_analyst": F,
    "other_partner_admin": F, "developer": F, "direct_super_admin": F, "no_role": F, "anonymous": U,
}
USE = {**MANAGE, "org_super_admin": "ok", "org_admin": "ok"}
RENEW = {**{role: F for role in ROLES}, "platform_admin": "ok", "anonymous": U}

EXPECTED = {
    "addCertificateSubscriptions": MANAGE,
    "addCertificateInventory": MANAGE,
    "useCertificateInventory": USE,
    "renewSubscriptions": RENEW,
}
ACTIONS = {
    "addCertificateSubscriptions": "certificates.add_subscriptions",
    "addCertificateInventory": "certificates.add_inventory",
    "useCertificateInventory": "certificates.use_inventory",
    "renewSubscriptions": "certificates.renew_subscriptions",
}


def test_the_table_covers_every_role():
    for mutation, table in EXPECTED.items():
        assert sorted(table) == sorted(ROLES), mutation


def _request(mutation: str, org_gid: str, sub_gid: str, key: str = "role-test") -> tuple[str, dict[str, Any]]:
    if mutation == "addCertificateSubscriptions":
        return ("""mutation($input: AddCertificateSubscriptionsInput!) { addCertificateSubscriptions(input: $input) {
                     subscriptions { certificateInventory { current } } userErrors { code } } }""",
                {"input": {"organizationId": org_gid, "idempotencyKey": key,
                           "subscriptions": [{"items": items([("DV", 1)])}]}})
    if mutation == "addCertificateInventory":
        return ("""mutation($input: AddCertificateInventoryInput!) { addCertificateInventory(input: $input) {
                     subscription { certificateInventory { current renewal } } userErrors { code } } }""",
                {"input": {"subscriptionId": sub_gid, "kind": "RENEWAL", "items": items([("DV", 2)])}})
    if mutation == "useCertificateInventory":
        return ("""mutation($input: UseCertificateInventoryInput!) { useCertificateInventory(input: $input) {
                     inventoryLine { used } userErrors { code } } }""",
                {"input": {"subscriptionId": sub_gid, "certificateTypeCode": "DV"}})
    return ("""mutation($input: RenewSubscriptionsInput) { renewSubscriptions(input: $input) {
                 renewed { id } expired { id } userErrors { code } } }""", {"input": {}})


def _effect(mutation: str, payload: dict[str, Any]) -> object:
    if mutation == "addCertificateSubscriptions":
        return payload["subscriptions"]
    if mutation == "addCertificateInventory":
        return payload["subscription"]["certificateInventory"]
    if mutation == "useCertificateInventory":
        return payload["inventoryLine"]
    return (payload["renewed"], payload["expired"])


EFFECTS = {
    "addCertificateSubscriptions": [{"certificateInventory": [{"current": 1}]}],
    "addCertificateInventory": [{"current": 1, "renewal": 3}],
    "useCertificateInventory": {"used": 1},
    "renewSubscriptions": ([], []),
}


@pytest.mark.parametrize("mutation", list(EXPECTED))
async def test_mutation_outcome_per_role(runtime, world, client: RoleClient, assert_access_matrix, mutation):
    async def run(role: str, token: str | None) -> GraphQLResult:
        sub_id = await add_subscription(runtime, world.organizations["acme"], {"DV": 1})
        query, variables = _request(mutation, world.org_id("acme"), encode_id("ProductSubscription", sub_id),
                                    key=f"role-test-{role}")
        result = await client.query(query, variables, role=role)
        if result.errors:  # refused: one top-level error and no payload
            assert len(result.error_codes) == 1, result
            assert result.data is None or result.data.get(mutation) is None, result
        elif result.data[mutation]["userErrors"]:
            assert len(result.data[mutation]["userErrors"]) == 1, result
        return result

    async def did_its_work(role: str, result: GraphQLResult) -> None:
        payload = result.ok()[mutation]
        assert payload["userErrors"] == []
        assert _effect(mutation, payload) == EFFECTS[mutation]
        async with runtime.sessions() as session:
            actions = (await session.scalars(select(AuditEvent.action).where(
                AuditEvent.actor_user_id == world.user_ids[role]))).all()
        assert ACTIONS[mutation] in actions

    assert set(USER_ERRORS) >= {code for code in EXPECTED[mutation].values() if code not in ("ok", F, U)}
    await assert_access_matrix(EXPECTED[mutation], run, ok=did_its_work)


async def test_a_direct_customer_manages_its_own_certificates(runtime, world):
    query, variables = _request("addCertificateSubscriptions", world.org_id("direct"), "")
    payload = (await run_query(runtime, query, variables, token=world.tokens["direct_super_admin"])).ok()[
        "addCertificateSubscriptions"]
    assert payload == {"subscriptions": [{"certificateInventory": [{"current": 1}]}], "userErrors": []}
    # a partner admin with no relation to the organization cannot
    other = (await run_query(runtime, query, variables, token=world.tokens["reseller_admin"]))
    assert other.error_codes == ["FORBIDDEN"]


async def test_unknown_ids_are_not_found_or_bad_input(runtime, world):
    query, variables = _request("useCertificateInventory", "", encode_id("ProductSubscription", 999999))
    assert (await run_query(runtime, query, variables, token=world.tokens["platform_admin"])).error_codes == ["NOT_FOUND"]
    variables["input"]["subscriptionId"] = encode_id("Organization", world.organizations["acme"])
    assert (await run_query(runtime, query, variables, token=world.tokens["platform_admin"])).error_codes == [
        "BAD_USER_INPUT"]
