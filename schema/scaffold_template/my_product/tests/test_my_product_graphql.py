"""Organization.myProductAccount and setMyProductStorage through GraphQL: the schema, the data, the
rules, the audit trail, the events, node(id:), and no N+1."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy import func, select

from gateway.runtime import Runtime
from gateway.testing import GraphQLResult, HookRecorder, RoleClient, StatementCounter
from schema.models import AuditEvent, Organization
from schema.testing import World

from ..events import MyProductStorageChanged
from ..models import MyProductAccount

CountSql = Callable[[], AbstractContextManager[StatementCounter]]

ACCOUNT = """query($id: ID!) { organization(id: $id) {
  myProductAccount { storageGb organization { domain } } } }"""
SET_STORAGE = """mutation($input: SetMyProductStorageInput!) { setMyProductStorage(input: $input) {
  account { storageGb } userErrors { field code } } }"""
EVERY_ACCOUNT = """query($first: Int) { organizations(first: $first) { nodes {
  domain myProductAccount { id storageGb organization { domain } } } } }"""
NODES = """query($ids: [ID!]!) { nodes(ids: $ids) { id ... on MyProductAccount { storageGb organization { domain } } } }"""


async def set_storage(client: RoleClient, world: World, organization: str, storage_gb: int,
                      role: str = "org_super_admin") -> GraphQLResult:
    return await client.query(SET_STORAGE, {"input": {"organizationId": world.org_id(organization),
                                                      "storageGb": storage_gb}}, role=role)


async def count_rows(runtime: Runtime) -> tuple[int, int]:
    """(accounts, audit events of my_product.set_storage)."""
    async with runtime.sessions() as session:
        accounts = await session.scalar(select(func.count()).select_from(MyProductAccount))
        audits = await session.scalar(select(func.count()).select_from(AuditEvent)
                                      .where(AuditEvent.action == "my_product.set_storage"))
    return accounts or 0, audits or 0


async def test_the_field_and_the_mutation_are_in_the_schema(runtime: Runtime) -> None:
    sdl = runtime.schema.as_str()
    assert "myProductAccount: MyProductAccount" in sdl
    assert "setMyProductStorage(input: SetMyProductStorageInput!): SetMyProductStoragePayload!" in sdl


async def test_an_admin_sets_the_storage_and_reads_it_back(client: RoleClient, world: World, runtime: Runtime,
                                                           hook_recorder: HookRecorder) -> None:
    result = (await set_storage(client, world, "acme", 100)).ok()["setMyProductStorage"]
    assert result == {"account": {"storageGb": 100}, "userErrors": []}
    read = (await client.query(ACCOUNT, {"id": world.org_id("acme")}, role="org_admin")).ok()
    assert read["organization"]["myProductAccount"] == {"storageGb": 100, "organization": {"domain": "acme.example"}}
    # an organization without an account reads null, not an error
    other = (await client.query(ACCOUNT, {"id": world.org_id("direct")}, role="platform_admin")).ok()
    assert other["organization"]["myProductAccount"] is None

    # the change emitted its event in the transaction, and left one audit event
    assert hook_recorder.event_types() == ["my_product.storage_changed"]
    event = hook_recorder.events[0]
    assert isinstance(event, MyProductStorageChanged)
    assert (event.organization_id, event.storage_gb, event.previous_storage_gb) == (world.organizations["acme"], 100, 0)
    async with runtime.sessions() as session:
        audits = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "my_product.set_storage"))).all()
    assert [(a.organization_id, a.details) for a in audits] == [(world.organizations["acme"], {"storageGb": 100})]

    changed = (await set_storage(client, world, "acme", 20, role="reseller_admin")).ok()["setMyProductStorage"]
    assert changed["account"] == {"storageGb": 20}
    assert hook_recorder.events[-1] == MyProductStorageChanged(
        organization_id=world.organizations["acme"], storage_gb=20, previous_storage_gb=100,
        occurred_at=hook_recorder.events[-1].occurred_at)
    assert await count_rows(runtime) == (1, 2)


async def test_the_rules_refuse_and_nothing_is_written(client: RoleClient, world: World, runtime: Runtime,
                                                      hook_recorder: HookRecorder) -> None:
    for storage_gb in (-1, 10_001):
        refused = (await set_storage(client, world, "acme", storage_gb)).ok()["setMyProductStorage"]
        assert refused == {"account": None, "userErrors": [{"field": ["storageGb"], "code": "STORAGE_OUT_OF_RANGE"}]}
    async with runtime.sessions() as session, session.begin():
        organization = await session.get(Organization, world.organizations["direct"])
        assert organization is not None
        organization.status = "SUSPENDED"
    suspended = (await set_storage(client, world, "direct", 10, role="direct_super_admin")).ok()["setMyProductStorage"]
    assert suspended == {"account": None,
                         "userErrors": [{"field": ["organizationId"], "code": "ORGANIZATION_NOT_OPEN"}]}
    assert await count_rows(runtime) == (0, 0)
    assert hook_recorder.events == []


async def test_node_finds_an_account_by_its_id_where_the_viewer_may_read_it(client: RoleClient, world: World) -> None:
    for organization in ("acme", "direct"):
        (await set_storage(client, world, organization, 10, role="platform_admin")).ok()
    listed = (await client.query(EVERY_ACCOUNT, {"first": 3}, role="platform_admin")).ok()["organizations"]["nodes"]
    ids = {node["domain"]: (node["myProductAccount"] or {}).get("id") for node in listed}
    wanted = [ids["acme.example"], ids["direct.example"]]
    # acme's admin finds acme's account; direct's, which it may not read, is null (not an error)
    found = (await client.query(NODES, {"ids": wanted}, role="org_admin")).ok()["nodes"]
    assert found == [{"id": wanted[0], "storageGb": 10, "organization": {"domain": "acme.example"}}, None]
    every = (await client.query(NODES, {"ids": wanted}, role="platform_admin")).ok()["nodes"]
    assert [node["organization"]["domain"] for node in every] == ["acme.example", "direct.example"]


async def test_many_accounts_cost_the_statements_of_one(client: RoleClient, world: World, count_sql: CountSql) -> None:
    for organization in ("acme", "direct", "unverified"):
        (await set_storage(client, world, organization, 10, role="platform_admin")).ok()
    with count_sql() as one:
        single = (await client.query(EVERY_ACCOUNT, {"first": 1}, role="platform_admin")).ok()
    with count_sql() as three:
        every = (await client.query(EVERY_ACCOUNT, {"first": 3}, role="platform_admin")).ok()
    assert len(single["organizations"]["nodes"]) == 1
    nodes = every["organizations"]["nodes"]
    assert [node["myProductAccount"]["storageGb"] for node in nodes] == [10, 10, 10]
    assert [node["myProductAccount"]["organization"]["domain"] for node in nodes] == [node["domain"] for node in nodes]
    assert three.count == one.count, "\n".join(three.statements)
