"""Every role of schema.testing.ROLES against Organization.myProductAccount, node(id:) and setMyProductStorage.

An outcome is "ok", a top-level error code (FORBIDDEN, UNAUTHENTICATED) or a userErrors code;
"hidden" is null without an error: ``organization(id:)`` for a viewer who may not see the organization
at all, ``nodes(ids:)`` for one who may not read the account.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from gateway.testing import GraphQLResult, RoleClient
from schema.testing import ROLES, World

from .test_my_product_graphql import ACCOUNT, NODES, set_storage

AccessMatrix = Callable[..., Awaitable[dict[str, str]]]
F, U = "FORBIDDEN", "UNAUTHENTICATED"
ACCOUNT_ID = "query($id: ID!) { organization(id: $id) { myProductAccount { id } } }"

# acme: mapped to the reseller, which has delegated access; the reseller's distributor is upstream
READ = {
    "platform_admin": "ok", "platform_analyst": "ok", "messaging_service": "hidden",
    "org_super_admin": "ok", "org_admin": "ok", "org_member": F,
    "reseller_admin": "ok", "reseller_analyst": "ok", "distributor_admin": "ok", "distributor_analyst": "ok",
    "other_partner_admin": "hidden", "developer": "hidden", "direct_super_admin": "hidden", "no_role": "hidden",
    "anonymous": U,
}
# node(id:) never says why: an account the viewer may not read (or an anonymous viewer) gets null
NODE = {role: "ok" if outcome == "ok" else "hidden" for role, outcome in READ.items()}
SET = {role: F for role in ROLES} | {
    "platform_admin": "ok", "org_super_admin": "ok", "reseller_admin": "ok", "anonymous": U,
}


def test_every_role_has_an_expected_outcome() -> None:
    assert set(READ) == set(ROLES) and set(SET) == set(ROLES)


async def test_who_reads_the_account(client: RoleClient, world: World, assert_access_matrix: AccessMatrix) -> None:
    (await set_storage(client, world, "acme", 100, role="platform_admin")).ok()

    def run(role: str, token: str | None) -> Awaitable[GraphQLResult]:
        return client.query(ACCOUNT, {"id": world.org_id("acme")}, role=role)

    def seen(role: str, result: GraphQLResult) -> str | None:
        organization = result.data["organization"]
        if organization is None:
            return "hidden"
        assert organization["myProductAccount"]["storageGb"] == 100
        return None

    await assert_access_matrix(READ, run, ok=seen)


async def test_who_finds_the_account_by_its_id(client: RoleClient, world: World,
                                              assert_access_matrix: AccessMatrix) -> None:
    (await set_storage(client, world, "acme", 100, role="platform_admin")).ok()
    read = (await client.query(ACCOUNT_ID, {"id": world.org_id("acme")}, role="platform_admin")).ok()
    account_id = read["organization"]["myProductAccount"]["id"]

    def run(role: str, token: str | None) -> Awaitable[GraphQLResult]:
        return client.query(NODES, {"ids": [account_id]}, role=role)

    def found(role: str, result: GraphQLResult) -> str | None:
        node = result.data["nodes"][0]
        if node is None:
            return "hidden"
        assert node["storageGb"] == 100
        return None

    await assert_access_matrix(NODE, run, ok=found)


async def test_who_sets_the_storage(client: RoleClient, world: World, assert_access_matrix: AccessMatrix) -> None:
    def run(role: str, token: str | None) -> Awaitable[GraphQLResult]:
        return set_storage(client, world, "acme", 40, role=role)

    def stored(role: str, result: GraphQLResult) -> str | None:
        assert result.data["setMyProductStorage"]["account"] == {"storageGb": 40}
        return None

    await assert_access_matrix(SET, run, ok=stored)
