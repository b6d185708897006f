"""Every domain event is stored as an ``events`` row in the transaction of its change (schema/events):
its type, its data as JSON, its organization and the partner it concerns (resolved when the event names
none); a rolled-back change stores nothing; ``gateway_event_stored`` sees each stored row."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from gateway.context import Context
from gateway.errors import DomainError
from gateway.events import DomainEvent, emit, event_types
from gateway.hookspecs import hookimpl
from gateway.runtime import Runtime
from gateway.testing import HookRecorder, RoleClient, clear_tables, create_tables, make_test_runtime
from schema import models
from schema.billing.service import charge_organization
from schema.models import EventRecord
from schema.testing import World, build_world

ROOT = Path(__file__).resolve().parent.parent
# ../shared/API.md "Second wave": the Event.type names of the contract.
API_EVENT_TYPES = {
    "subscription.created", "subscription.changed", "subscription.renewed", "subscription.expired",
    "subscription.payment_failed", "partner_access.granted", "partner_access.revoked", "partner_access.expiring",
    "partner_access.expired", "payment.recorded", "developer_access.granted", "developer_access.revoked",
    "solution.upgraded", "job.finished",
}
# The core's own types beyond the contract's list (schema/events/README.md).
CORE_EXTRA_TYPES = {"organization.created", "partner_mapping.changed", "subscription.renewal_due"}

CREATE_ORG = """mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) {
  organization { id } userErrors { code } } }"""
TAG = """mutation($input: TagPartnerInput!) { tagPartner(input: $input) { userErrors { code } } }"""
ADD = """mutation($input: AddSubscriptionInput!) { addSubscription(input: $input) { userErrors { code } } }"""
REVOKE = """mutation($input: OrganizationInput!) { revokePartnerAccess(input: $input) { userErrors { code } } }"""
GRANT = """mutation($input: GrantPartnerAccessInput!) { grantPartnerAccess(input: $input) { userErrors { code } } }"""


async def stored(runtime: Runtime) -> list[EventRecord]:
    async with runtime.sessions() as session:
        return list((await session.scalars(select(EventRecord).order_by(EventRecord.id))).all())


def add_input(world: World, org: str, key: str) -> dict[str, Any]:
    return {"input": {"organizationId": world.org_id(org), "planCode": "MAIL_STANDARD", "licenseCount": 3,
                      "trial": True, "idempotencyKey": key}}


async def add(client: RoleClient, variables: dict[str, Any], role: str) -> None:
    assert (await client.query(ADD, variables, role=role)).ok() == {"addSubscription": {"userErrors": []}}


async def test_a_mutations_events_are_stored_with_their_data_and_partner(
        runtime: Runtime, world: World, client: RoleClient, hook_recorder: HookRecorder) -> None:
    new_org = {"input": {"partnerId": world.partner_id("reseller"), "name": "Newco", "domain": "newco.example",
                         "superAdminEmail": "boss@newco.example"}}
    assert (await client.query(CREATE_ORG, new_org, role="reseller_admin")).ok()["createOrganization"]["userErrors"] == []
    await add(client, add_input(world, "acme", "events-acme"), "reseller_admin")
    (await client.query(REVOKE, {"input": {"organizationId": world.org_id("acme")}}, role="org_super_admin")).ok()

    rows = await stored(runtime)
    emitted = hook_recorder.events
    assert [r.type for r in rows] == [e.type for e in emitted] == [
        "organization.created", "partner_access.granted", "subscription.created", "partner_access.revoked"]
    for row, event in zip(rows, emitted, strict=True):
        assert row.data == event.to_json() and row.occurred_at == event.occurred_at
        assert row.organization_id == getattr(event, "organization_id")
    created, granted, subscription, revoked = rows
    reseller, acme = world.partners["reseller"], world.organizations["acme"]
    assert created.partner_id == granted.partner_id == reseller and created.data["domain"] == "newco.example"
    # a subscription event names no partner: the organization's mapped partner is resolved when it is stored
    assert (subscription.organization_id, subscription.partner_id) == (acme, reseller)
    assert subscription.data["subscription_id"] > 0 and subscription.data["status"] == "TRIAL"
    assert (revoked.organization_id, revoked.partner_id) == (acme, reseller)


async def test_the_partner_is_the_mapped_one_at_that_moment_or_the_one_the_event_names(
        runtime: Runtime, world: World, client: RoleClient) -> None:
    direct = world.organizations["direct"]
    await add(client, add_input(world, "direct", "events-direct-1"), "direct_super_admin")
    tag = {"input": {"organizationId": world.org_id("direct"), "partnerCode": "RESEL1"}}
    assert (await client.query(TAG, tag, role="direct_super_admin")).ok()["tagPartner"]["userErrors"] == []
    await add(client, add_input(world, "direct", "events-direct-2"), "reseller_admin")  # partner-managed now
    grant = {"input": {"organizationId": world.org_id("acme"), "partnerId": world.partner_id("other")}}
    assert (await client.query(GRANT, grant, role="org_super_admin")).ok()["grantPartnerAccess"]["userErrors"] == []

    by_type = [(r.type, r.organization_id, r.partner_id) for r in await stored(runtime)]
    reseller = world.partners["reseller"]
    assert by_type[0] == ("subscription.created", direct, None)  # a direct customer: no partner then
    assert ("partner_mapping.changed", direct, reseller) in by_type
    later = by_type.index(("partner_mapping.changed", direct, reseller))
    assert ("subscription.created", direct, reseller) in by_type[later:]  # mapped since: its partner now
    # access granted to a partner that is not the mapped one concerns that partner
    assert by_type[-1] == ("partner_access.granted", world.organizations["acme"], world.partners["other"])


async def test_a_payment_is_stored_and_a_rolled_back_change_stores_nothing(runtime: Runtime, world: World) -> None:
    acme = world.organizations["acme"]
    async with runtime.sessions() as session, session.begin():
        session.add(models.PaymentMethod(organization_id=acme, owner="RESELLER_CARD", processor_token="tok_visa",
                                         brand="VISA", last4="4242", exp_month=1, exp_year=2099))
    async with runtime.context(token=world.tokens["reseller_admin"]) as ctx:
        with pytest.raises(RuntimeError, match="after the charge"):
            async with ctx.transaction():
                await charge_organization(ctx, acme, Decimal("12.50"), "USD", "rolled back")
                assert [r.type for r in (await ctx.session.scalars(select(EventRecord))).all()] == ["payment.recorded"]
                raise RuntimeError("failed after the charge")
    assert await stored(runtime) == []  # the row was written inside the transaction and went with it

    async with runtime.context(token=world.tokens["reseller_admin"]) as ctx:
        async with ctx.transaction():
            payment = await charge_organization(ctx, acme, Decimal("12.50"), "USD", "kept")
    [row] = await stored(runtime)
    assert (row.type, row.organization_id, row.partner_id) == ("payment.recorded", acme, world.partners["reseller"])
    assert row.data["payment_id"] == payment.id and Decimal(row.data["amount"]) == Decimal("12.50") and row.data["currency"] == "USD"


async def test_gateway_event_stored_sees_each_row_in_the_transaction(
        runtime: Runtime, world: World, client: RoleClient, hook_recorder: HookRecorder) -> None:
    await add(client, add_input(world, "acme", "events-hook"), "reseller_admin")
    [call] = hook_recorder.called("gateway_event_stored")
    [row] = await stored(runtime)
    assert call["record"].id == row.id and call["event"] is hook_recorder.events[0]
    assert call["record"].partner_id == world.partners["reseller"]
    names = [name for name, _ in hook_recorder.calls]
    assert names.index("gateway_event") < names.index("gateway_event_stored")


class Veto:
    """A receiver of gateway_event_stored (as webhooks are) that fails the change."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    @hookimpl
    def gateway_event_stored(self, ctx: Context, event: DomainEvent, record: EventRecord) -> None:
        self.seen.append(record.id)
        raise DomainError("VETOED", "A receiver refused the change.")


async def test_a_receiver_failing_rolls_back_the_mutation_and_its_event(backend: str) -> None:
    veto = Veto()
    runtime = make_test_runtime(backend, plugins=[], extra_plugins=[("veto", veto)])
    await create_tables(runtime)
    await clear_tables(runtime)
    try:
        world = await build_world(runtime)
        client = RoleClient(runtime, world.tokens, "org_super_admin")
        result = (await client.query(REVOKE, {"input": {"organizationId": world.org_id("acme")}})).ok()
        assert result == {"revokePartnerAccess": {"userErrors": [{"code": "VETOED"}]}}
        assert len(veto.seen) == 1  # it was stored and handed over...
        assert await stored(runtime) == []  # ...and rolled back with the change
        async with runtime.sessions() as session:
            assert await session.scalar(select(models.PartnerAccess.status).where(
                models.PartnerAccess.organization_id == world.organizations["acme"])) == "ACTIVE"
    finally:
        await clear_tables(runtime)
        await runtime.dispose()


# ---------------------------------------------------------------- every event class of the code base
def import_every_event_module() -> dict[str, type[DomainEvent]]:
    for path in sorted([*ROOT.glob("schema/*/events.py"), *ROOT.glob("plugins/*/events.py")]):
        importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return {name: cls for name, cls in event_types().items() if cls.__module__.startswith(("schema.", "plugins."))}


def test_every_event_type_is_the_contracts_the_cores_or_namespaced_by_its_plugin() -> None:
    found = import_every_event_module()
    assert {"payment.recorded", "subscription.changed", "developer_access.granted"} <= set(found)
    for type_name, event_class in found.items():
        module = event_class.__module__
        if module.startswith("plugins."):
            plugin = module.split(".")[1]
            assert type_name in API_EVENT_TYPES or type_name.startswith(f"{plugin}."), (
                f"{module}.{event_class.__qualname__}: {type_name!r} is neither the contract's nor '{plugin}.*'")
        else:
            assert type_name in API_EVENT_TYPES | CORE_EXTRA_TYPES, (
                f"{module}.{event_class.__qualname__}: {type_name!r} is not in API.md's list nor the core's extras")


def sample(hint: Any, name: str, world: World) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return sample(next(a for a in typing.get_args(hint) if a is not type(None)), name, world)
    if name == "organization_id":
        return world.organizations["acme"]
    if name == "partner_id":
        return world.partners["devco"]
    values = {int: 7, str: f"{name}-value", bool: True, Decimal: Decimal("9.9900"),
              dt.datetime: dt.datetime(2026, 3, 1, tzinfo=dt.UTC), dt.date: dt.date(2026, 3, 1)}
    if hint in values:
        return values[hint]
    raise AssertionError(f"no sample for {name}: {hint!r}")


async def test_every_event_class_emitted_is_stored(runtime: Runtime, world: World) -> None:
    found = import_every_event_module()
    events = []
    for event_class in found.values():
        hints = typing.get_type_hints(event_class)
        events.append(event_class(**{f.name: sample(hints[f.name], f.name, world)
                                     for f in dataclasses.fields(event_class) if f.name != "occurred_at"}))
    async with runtime.context(token=world.tokens["platform_admin"]) as ctx:
        async with ctx.transaction():
            for event in events:
                await emit(ctx, event)
    rows = await stored(runtime)
    assert [r.type for r in rows] == [e.type for e in events]
    for row, event in zip(rows, events, strict=True):
        assert row.data == event.to_json(), event.type
        names = {f.name for f in dataclasses.fields(event)}
        assert row.organization_id == (world.organizations["acme"] if "organization_id" in names else None)
        # the partner it names, else the organization's mapped partner (acme's: reseller)
        expected = world.partners["devco"] if "partner_id" in names else (
            world.partners["reseller"] if "organization_id" in names else None)
        assert row.partner_id == expected, event.type


@dataclasses.dataclass(frozen=True, kw_only=True)
class PlatformNoticeForTest(DomainEvent):
    type = "test_events.platform_notice"
    text: str


async def test_an_event_without_organization_or_partner_is_stored_with_neither(runtime: Runtime, world: World) -> None:
    async with runtime.context(token=world.tokens["platform_admin"]) as ctx:
        async with ctx.transaction():
            await emit(ctx, PlatformNoticeForTest(text="maintenance"))
    [row] = await stored(runtime)
    assert (row.type, row.organization_id, row.partner_id, row.data["text"]) == (
        "test_events.platform_notice", None, None, "maintenance")
