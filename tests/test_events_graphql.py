"""Stored events in the graph: ``Organization.events`` and ``Partner.events`` (newest first, ``types``, pages),
``node(id:)`` for ``Event``, who may read them (every role of the test world), and no N+1."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from gateway.relay import encode_id
from gateway.runtime import Runtime
from gateway.testing import GraphQLResult, RoleClient, StatementCounter
from schema import models
from schema.models import EventRecord
from schema.testing import ROLES, World

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
ORG_EVENTS = """query($id: ID!, $first: Int, $after: String, $types: [String!]) { organization(id: $id) {
  events(first: $first, after: $after, types: $types) {
    nodes { id type occurredAt data organization { name } partner { code } }
    pageInfo { hasNextPage endCursor } totalCount } } }"""
PARTNER_EVENTS = """query($id: ID!, $types: [String!]) { partner(id: $id) {
  events(first: 20, types: $types) { nodes { type organization { name } partner { code } } totalCount } } }"""
NODE = """query($id: ID!) { node(id: $id) { ... on Event { id type partner { code } } } }"""


async def seed(runtime: Runtime, world: World) -> dict[str, list[int]]:
    """acme (mapped to reseller): 5 events; direct (no partner): 1; a partner-only event of `other`; a
    platform event; devco's developer access to acme (organization acme, partner devco)."""
    acme, direct = world.organizations["acme"], world.organizations["direct"]
    reseller, other, devco = world.partners["reseller"], world.partners["other"], world.partners["devco"]
    rows = {
        "acme": [("subscription.created", acme, reseller), ("subscription.changed", acme, reseller),
                 ("payment.recorded", acme, reseller), ("subscription.changed", acme, reseller),
                 ("partner_access.granted", acme, reseller)],
        "direct": [("subscription.created", direct, None)],
        "other": [("partner.noticed", None, other)],
        "platform": [("platform.noticed", None, None)],
        "devco": [("developer_access.granted", acme, devco)],
    }
    ids: dict[str, list[int]] = {}
    async with runtime.sessions() as session, session.begin():
        minute = 0
        for key, events in rows.items():
            records = []
            for type_name, organization_id, partner_id in events:
                minute += 1
                record = EventRecord(type=type_name, occurred_at=T0 + dt.timedelta(minutes=minute),
                                     organization_id=organization_id, partner_id=partner_id,
                                     data={"organization_id": organization_id, "n": minute})
                session.add(record)
                records.append(record)
            await session.flush()
            ids[key] = [r.id for r in records]
    return ids


def event_types_of(result: GraphQLResult, root: str) -> list[str]:
    return [node["type"] for node in result.data[root]["events"]["nodes"]]


async def test_an_organizations_events_newest_first_by_type_and_page(
        runtime: Runtime, world: World, client: RoleClient) -> None:
    ids = await seed(runtime, world)
    acme = world.org_id("acme")
    data = (await client.query(ORG_EVENTS, {"id": acme}, role="org_super_admin")).ok()["organization"]["events"]
    assert [n["type"] for n in data["nodes"]] == ["developer_access.granted", "partner_access.granted",
                                                  "subscription.changed", "payment.recorded",
                                                  "subscription.changed", "subscription.created"]
    assert data["totalCount"] == 6
    newest_of_acme = data["nodes"][1]
    assert newest_of_acme["id"] == encode_id("Event", ids["acme"][-1])
    assert newest_of_acme["occurredAt"] == "2026-01-05T09:05:00+00:00"
    assert newest_of_acme["data"] == {"organization_id": world.organizations["acme"], "n": 5}
    assert newest_of_acme["organization"] == {"name": "Acme Inc"} and newest_of_acme["partner"] == {"code": "RESEL1"}

    only = {"id": acme, "types": ["subscription.changed", "payment.recorded"], "first": 2}
    page1 = (await client.query(ORG_EVENTS, only, role="org_super_admin")).ok()["organization"]["events"]
    assert [n["type"] for n in page1["nodes"]] == ["subscription.changed", "payment.recorded"]
    assert page1["pageInfo"]["hasNextPage"] and page1["totalCount"] == 3
    page2 = (await client.query(ORG_EVENTS, {**only, "after": page1["pageInfo"]["endCursor"]},
                                role="org_super_admin")).ok()["organization"]["events"]
    assert [n["type"] for n in page2["nodes"]] == ["subscription.changed"] and not page2["pageInfo"]["hasNextPage"]
    assert page2["nodes"][0]["id"] == encode_id("Event", ids["acme"][1])
    none = (await client.query(ORG_EVENTS, {"id": acme, "types": []}, role="org_super_admin")).ok()
    assert none["organization"]["events"]["totalCount"] == 0


async def test_a_partners_events_are_those_concerning_it(runtime: Runtime, world: World, client: RoleClient) -> None:
    await seed(runtime, world)
    reseller = await client.query(PARTNER_EVENTS, {"id": world.partner_id("reseller")}, role="reseller_admin")
    assert event_types_of(reseller, "partner") == ["partner_access.granted", "subscription.changed",
                                                   "payment.recorded", "subscription.changed", "subscription.created"]
    # an analyst may not read payment details (Organization.payments), so not a payment's event either
    analyst = await client.query(PARTNER_EVENTS, {"id": world.partner_id("reseller")}, role="reseller_analyst")
    assert event_types_of(analyst, "partner") == ["partner_access.granted", "subscription.changed",
                                                  "subscription.changed", "subscription.created"]
    devco = (await client.query(PARTNER_EVENTS, {"id": world.partner_id("devco"), "types": ["developer_access.granted"]},
                                role="platform_analyst")).ok()["partner"]["events"]
    assert devco["nodes"] == [{"type": "developer_access.granted", "organization": {"name": "Acme Inc"},
                               "partner": {"code": "DEVCO1"}}]
    other = (await client.query(PARTNER_EVENTS, {"id": world.partner_id("other")}, role="other_partner_admin")).ok()
    assert other["partner"]["events"]["nodes"] == [{"type": "partner.noticed", "organization": None,
                                                    "partner": {"code": "OTHER1"}}]


# Organization.events of acme (mapped to the reseller, delegated to it; the reseller's distributor above it).
ORGANIZATION_OUTCOMES = {
    "platform_admin": "ok", "platform_analyst": "ok", "messaging_service": "hidden",
    "org_super_admin": "ok", "org_admin": "ok", "org_member": "FORBIDDEN",
    "reseller_admin": "ok", "reseller_analyst": "ok", "distributor_admin": "FORBIDDEN",
    "distributor_analyst": "FORBIDDEN", "other_partner_admin": "hidden", "developer": "hidden",
    "direct_super_admin": "hidden", "no_role": "hidden", "anonymous": "UNAUTHENTICATED",
}
# Partner.events of the reseller.
PARTNER_OUTCOMES = {
    "platform_admin": "ok", "platform_analyst": "ok", "messaging_service": "FORBIDDEN",
    "org_super_admin": "hidden", "org_admin": "hidden", "org_member": "hidden",
    "reseller_admin": "ok", "reseller_analyst": "ok", "distributor_admin": "FORBIDDEN",
    "distributor_analyst": "FORBIDDEN", "other_partner_admin": "hidden", "developer": "hidden",
    "direct_super_admin": "hidden", "no_role": "hidden", "anonymous": "UNAUTHENTICATED",
}


# organization.read_billing on acme: who may read a payment's event (DomainEvent.read_action)
BILLING_READERS = {"platform_admin", "org_super_admin", "org_admin", "reseller_admin"}


def test_the_matrices_cover_every_role() -> None:
    assert sorted(ORGANIZATION_OUTCOMES) == sorted(PARTNER_OUTCOMES) == sorted(ROLES)


async def test_who_reads_an_organizations_events(runtime: Runtime, world: World, client: RoleClient,
                                                 assert_access_matrix: Any) -> None:
    await seed(runtime, world)

    async def run(role: str, token: str | None) -> GraphQLResult:
        result = await client.query(ORG_EVENTS, {"id": world.org_id("acme")}, role=role)
        if result.errors:  # refused: the connection is empty, the error at its path (README "Refused fields")
            assert result.data in (None, {"organization": None}, {"organization": {"events": {"nodes": [], "pageInfo": {
                "hasNextPage": False, "endCursor": None}, "totalCount": 0}}}), result.data
            if result.data and result.data["organization"] is not None:
                assert result.errors[0]["path"] == ["organization", "events"]
                assert result.errors[0]["extensions"]["action"] == "organization.read_events"
        return result

    def ok(role: str, result: GraphQLResult) -> str | None:
        if result.data["organization"] is None:
            return "hidden"
        # payment.recorded only for those who may read the organization's payment details
        assert result.data["organization"]["events"]["totalCount"] == (6 if role in BILLING_READERS else 5), role
        return None

    await assert_access_matrix(ORGANIZATION_OUTCOMES, run, ok=ok)


async def test_who_reads_a_partners_events(runtime: Runtime, world: World, client: RoleClient,
                                           assert_access_matrix: Any) -> None:
    await seed(runtime, world)

    async def run(role: str, token: str | None) -> GraphQLResult:
        result = await client.query(PARTNER_EVENTS, {"id": world.partner_id("reseller")}, role=role)
        if result.errors and result.data and result.data["partner"] is not None:
            assert result.data == {"partner": {"events": {"nodes": [], "totalCount": 0}}}
            assert result.errors[0]["path"] == ["partner", "events"]
            assert result.errors[0]["extensions"]["action"] == "partner.read_events"
        return result

    def ok(role: str, result: GraphQLResult) -> str | None:
        if result.data["partner"] is None:
            return "hidden"
        assert result.data["partner"]["events"]["totalCount"] == (5 if role in BILLING_READERS else 4), role
        return None

    await assert_access_matrix(PARTNER_OUTCOMES, run, ok=ok)


@pytest.mark.parametrize("event", ["acme", "devco", "other", "platform"])
async def test_who_finds_an_event_by_id(runtime: Runtime, world: World, client: RoleClient,
                                        assert_access_matrix: Any, event: str) -> None:
    ids = await seed(runtime, world)
    readers = {"platform_admin", "platform_analyst"} | {
        "acme": {"org_super_admin", "org_admin", "reseller_admin", "reseller_analyst"},
        # acme's readers read it through the organization, devco's members through their partner
        "devco": {"org_super_admin", "org_admin", "reseller_admin", "reseller_analyst"},
        "other": {"other_partner_admin"},
        "platform": set(),
    }[event]
    outcomes = {role: "ok" if role in readers else "hidden" for role in ROLES}
    outcomes["anonymous"] = "UNAUTHENTICATED"
    global_id = encode_id("Event", ids[event][0])

    async def run(role: str, token: str | None) -> GraphQLResult:
        return await client.query(NODE, {"id": global_id}, role=role)

    def ok(role: str, result: GraphQLResult) -> str | None:
        node = result.data["node"]
        if node is None:
            return "hidden"
        assert node["id"] == global_id
        return None

    await assert_access_matrix(outcomes, run, ok=ok)


async def test_the_developer_partner_reads_its_developer_access_events(
        runtime: Runtime, world: World, client: RoleClient) -> None:
    """A partner's DEVELOPER members are not among partner.read_events' readers: the events of devco are read
    by its admins and analysts (it has none in the test world) and platform staff."""
    ids = await seed(runtime, world)
    result = await client.query(NODE, {"id": encode_id("Event", ids["devco"][0])}, role="developer")
    assert result.ok() == {"node": None}


LIST = """query($first: Int) { organizations(first: $first) { nodes { name
  events(first: 3) { nodes { type organization { name } partner { code } } totalCount } } } }"""


async def more_organizations(runtime: Runtime, world: World, start: int, count: int) -> None:
    async with runtime.sessions() as session, session.begin():
        for n in range(start, start + count):
            row = models.Organization(name=f"Extra {n}", domain=f"extra{n}.example", domain_verification_code="x",
                                      status="ACTIVE", partner_id=world.partners["reseller"])
            session.add(row)
            await session.flush()
            for k in range(4):
                session.add(EventRecord(type="subscription.changed", occurred_at=T0, organization_id=row.id,
                                        partner_id=world.partners["reseller"], data={"k": k}))


async def test_events_of_many_organizations_take_a_constant_number_of_statements(
        runtime: Runtime, world: World, client: RoleClient,
        count_sql: Callable[[], AbstractContextManager[StatementCounter]]) -> None:
    await seed(runtime, world)
    await more_organizations(runtime, world, 0, 2)
    with count_sql() as few:
        small = (await client.query(LIST, {"first": 50}, role="platform_admin")).ok()
    await more_organizations(runtime, world, 2, 10)
    with count_sql() as many:
        large = (await client.query(LIST, {"first": 50}, role="platform_admin")).ok()
    assert len(large["organizations"]["nodes"]) == len(small["organizations"]["nodes"]) + 10
    assert all(len(o["events"]["nodes"]) == 3 and o["events"]["totalCount"] == 4
               for o in large["organizations"]["nodes"] if o["name"].startswith("Extra"))
    assert many.count == few.count, many.statements


async def test_a_payments_event_is_read_by_billing_readers_only(
        runtime: Runtime, world: World, client: RoleClient, assert_access_matrix: Any) -> None:
    """payment.recorded carries the amount and whose card paid: organization.read_billing, not only read_events."""
    ids = await seed(runtime, world)
    global_id = encode_id("Event", ids["acme"][2])
    outcomes = {role: "ok" if role in BILLING_READERS else "hidden" for role in ROLES}
    outcomes["anonymous"] = "UNAUTHENTICATED"

    async def run(role: str, token: str | None) -> GraphQLResult:
        return await client.query(NODE, {"id": global_id}, role=role)

    def ok(role: str, result: GraphQLResult) -> str | None:
        node = result.data["node"]
        if node is None:
            return "hidden"
        assert node == {"id": global_id, "type": "payment.recorded", "partner": {"code": "RESEL1"}}
        return None

    await assert_access_matrix(outcomes, run, ok=ok)
