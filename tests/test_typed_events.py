"""Domain events as data and the plugin contract: typed events reach plugins in the transaction of the change,
every event type round-trips through JSON, plugins declare their own hooks, the host's hooks speak no domain."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import importlib
import json
import re
import types
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pluggy
import pytest
from sqlalchemy import func, select

from gateway.context import Context
from gateway.errors import DomainError
from gateway.events import DomainEvent, EventTypeClash, committed_events, event_types, pending_events
from gateway.hookspecs import hookimpl, hookspec
from gateway.plugins import create_plugin_manager, enabled_plugins, owner_of
from gateway.runtime import Runtime
from gateway.testing import clear_tables, create_tables, make_test_runtime, shared_runtime
from schema.access import record_audit
from schema.models import AuditEvent, PartnerAccess
from schema.organizations.events import PartnerAccessRevoked
from schema.testing import World, build_world

ROOT = Path(__file__).resolve().parent.parent
REVOKE = """mutation($input: OrganizationInput!) { revokePartnerAccess(input: $input) { userErrors { code } } }"""
# The Event.type names of ../shared/API.md "Second wave" that events of today's changes carry.
API_EVENT_TYPES = {
    "subscription.created", "subscription.changed", "subscription.renewed", "subscription.expired",
    "partner_access.granted", "partner_access.revoked", "payment.recorded",
    "developer_access.granted", "developer_access.revoked", "solution.upgraded",
}
DOMAIN_WORDS = re.compile(r"partner|organi[sz]ation|reseller|subscription", re.IGNORECASE)


class Recorder:
    """A test plugin: records each event it receives, what it saw inside the transaction, and may write or veto."""

    def __init__(self, *, write: bool = False, veto: bool = False) -> None:
        self.received: list[DomainEvent] = []
        self.seen_inside: list[tuple[bool, str | None, list[DomainEvent], list[DomainEvent]]] = []
        self.write, self.veto = write, veto

    @hookimpl
    async def gateway_event(self, ctx: Context, event: DomainEvent) -> None:
        self.received.append(event)
        if not isinstance(event, PartnerAccessRevoked):
            return
        status = await ctx.session.scalar(select(PartnerAccess.status).where(
            PartnerAccess.organization_id == event.organization_id, PartnerAccess.partner_id == event.partner_id))
        self.seen_inside.append((ctx.session.in_transaction(), status, pending_events(ctx), committed_events(ctx)))
        if self.write:
            record_audit(ctx, "test.saw_event", via="TEST", organization_id=event.organization_id,
                      details={"type": event.type})
            await ctx.session.flush()
        if self.veto:
            raise DomainError("VETOED", "A receiver refused the change.")


async def _recording(backend: str, recorder: Recorder) -> tuple[Runtime, World]:
    runtime = make_test_runtime(backend, plugins=[], extra_plugins=[("recorder", recorder)])
    await create_tables(runtime)
    await clear_tables(runtime)
    return runtime, await build_world(runtime)


async def _revoke(runtime: Runtime, world: World) -> tuple[dict[str, Any], list[DomainEvent]]:
    async with runtime.context(token=world.tokens["org_super_admin"]) as ctx:
        result = await runtime.schema.execute(REVOKE, variable_values={"input": {"organizationId": world.org_id("acme")}},
                                              context_value=ctx)
        assert result.errors is None and result.data is not None, result.errors
        return result.data["revokePartnerAccess"], committed_events(ctx)


async def _count(runtime: Runtime, *where: Any) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AuditEvent).where(*where)) or 0)


async def _access_status(runtime: Runtime, world: World) -> str | None:
    async with runtime.sessions() as session:
        status: str | None = await session.scalar(select(PartnerAccess.status).where(
            PartnerAccess.organization_id == world.organizations["acme"],
            PartnerAccess.partner_id == world.partners["reseller"]))
        return status


async def test_a_plugin_receives_the_typed_event_of_a_real_mutation_inside_its_transaction(backend: str) -> None:
    recorder = Recorder(write=True)
    runtime, world = await _recording(backend, recorder)
    try:
        payload, committed = await _revoke(runtime, world)
        assert payload == {"userErrors": []}
        [event] = [e for e in recorder.received if isinstance(e, PartnerAccessRevoked)]
        # the real class and its fields, plain values (no ORM object), the API's type name
        assert type(event) is PartnerAccessRevoked and event.type == "partner_access.revoked"
        assert (event.organization_id, event.partner_id) == (world.organizations["acme"], world.partners["reseller"])
        assert isinstance(event.occurred_at, dt.datetime) and event.occurred_at.tzinfo is not None
        # the receiver ran inside the transaction: it saw the change made, the event pending, nothing committed yet
        [(in_transaction, status, pending, committed_then)] = recorder.seen_inside
        assert in_transaction and status == "REVOKED"
        assert event in pending and committed_then == []
        # after the commit the request's record holds it, for after-commit consumers (event table, webhooks)
        assert event in committed
        # and the receiver's own write committed with the change
        assert await _count(runtime, AuditEvent.action == "test.saw_event",
                            AuditEvent.organization_id == world.organizations["acme"]) == 1
    finally:
        await clear_tables(runtime)
        await runtime.dispose()


async def test_a_rolled_back_change_rolls_back_its_receivers_writes_and_delivers_nothing_after_commit(
        backend: str) -> None:
    recorder = Recorder(write=True, veto=True)
    runtime, world = await _recording(backend, recorder)
    try:
        payload, committed = await _revoke(runtime, world)
        assert payload == {"userErrors": [{"code": "VETOED"}]}
        assert [type(e) for e in recorder.received] == [PartnerAccessRevoked]  # it was emitted and received...
        assert committed == []  # ...but the transaction rolled back: no after-commit consumer gets it
        assert await _access_status(runtime, world) == "ACTIVE"  # the change itself rolled back
        assert await _count(runtime, AuditEvent.action == "test.saw_event") == 0  # and the receiver's write with it
    finally:
        await clear_tables(runtime)
        await runtime.dispose()


async def test_the_mail_plugin_reacts_to_the_typed_subscription_event(backend: str) -> None:
    """Behaviour kept: adding a Mail subscription through the core sets mail up, via SubscriptionCreated."""
    from plugins.mail.models import MailOrganization
    from schema.subscriptions.events import SubscriptionCreated

    runtime = await shared_runtime(backend, ["mail"])
    world = await build_world(runtime)
    add = ("mutation($input: AddSubscriptionInput!) { addSubscription(input: $input) { userErrors { code } } }")
    variables = {"input": {"organizationId": world.org_id("unverified"), "planCode": "MAIL_STANDARD",
                           "licenseCount": 3, "trial": True, "idempotencyKey": "typed-event-mail"}}
    async with runtime.context(token=world.tokens["reseller_admin"]) as ctx:
        result = await runtime.schema.execute(add, variable_values=variables, context_value=ctx)
        assert result.errors is None and result.data == {"addSubscription": {"userErrors": []}}
        [created] = [e for e in committed_events(ctx) if isinstance(e, SubscriptionCreated)]
    assert created.type == "subscription.created" and created.change_kind == "ADDED"
    assert (created.organization_id, created.product_id, created.status) == (
        world.organizations["unverified"], world.products["MAIL"], "TRIAL")
    async with runtime.sessions() as session:  # the mail plugin's reaction, as before the events were typed
        assert await session.scalar(select(func.count()).select_from(MailOrganization).where(
            MailOrganization.organization_id == world.organizations["unverified"])) == 1


# ---------------------------------------------------------------- events as data
def _import_every_event_module() -> None:
    for path in sorted([*ROOT.glob("schema/*/events.py"), *ROOT.glob("plugins/*/events.py")]):
        importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))


def _sample(hint: Any, name: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _sample(next(a for a in typing.get_args(hint) if a is not type(None)), name)
    if hint is int:
        return sum(map(ord, name))  # distinct per field, so a swapped field shows
    if hint is str:
        return f"{name}-value"
    if hint is bool:
        return True
    if hint is Decimal:
        return Decimal("1234.5600")
    if hint is dt.datetime:
        return dt.datetime(2026, 2, 28, 23, 59, 59, 123456, tzinfo=dt.UTC)
    if hint is dt.date:
        return dt.date(2026, 2, 28)
    raise AssertionError(f"no sample for field {name}: {hint!r} (events carry plain values)")


def test_every_event_type_round_trips_through_json() -> None:
    _import_every_event_module()
    found = event_types()
    assert API_EVENT_TYPES <= set(found), f"missing: {sorted(API_EVENT_TYPES - set(found))}"
    for type_name, event_class in found.items():
        assert event_class.type == type_name
        assert dataclasses.is_dataclass(event_class) and event_class.__dataclass_params__.frozen  # type: ignore[attr-defined]
        hints = typing.get_type_hints(event_class)
        event = event_class(**{f.name: _sample(hints[f.name], f.name) for f in dataclasses.fields(event_class)})
        data = json.loads(json.dumps(event.to_json()))  # plain JSON, nothing left for a default= to guess
        assert event_class.from_json(data) == event, type_name
        for f in dataclasses.fields(event_class):
            if hints[f.name] is Decimal:
                assert data[f.name] == "1234.5600"  # money as a string, not a float
            if hints[f.name] is dt.datetime:
                assert data[f.name] == "2026-02-28T23:59:59.123456+00:00"


def test_an_event_type_name_is_declared_once_and_a_family_is_not_emitted() -> None:
    from dataclasses import dataclass

    from schema.subscriptions.events import SubscriptionEvent

    with pytest.raises(EventTypeClash, match="partner_access.revoked"):
        @dataclass(frozen=True, kw_only=True)
        class Impostor(DomainEvent):
            type = "partner_access.revoked"

    with pytest.raises(TypeError, match="declares no type name"):
        SubscriptionEvent(subscription_id=1, organization_id=1, product_id=1, plan_id=1, status="ACTIVE",
                          license_count=1, change_id=1, change_kind="CHANGED")


# ---------------------------------------------------------------- one plugin mechanism
class GreetingSpecs:
    """Hooks a product plugin declares for others (as the vertical plugin declares gateway_upgrade_runner)."""

    @hookspec
    def greeting_words(self, name: str) -> list[str]:
        """Return words to greet ``name`` with."""


class Declarer:
    @hookimpl
    def gateway_add_hookspecs(self, pm: pluggy.PluginManager) -> None:
        pm.add_hookspecs(GreetingSpecs)


class Implementer:
    @hookimpl
    def greeting_words(self, name: str) -> list[str]:
        return ["hello", name]


def test_a_plugin_declares_its_own_hook_that_another_plugin_implements() -> None:
    # the implementer is registered before the declarer: the order does not matter
    pm = create_plugin_manager([], extra_plugins=[("implementer", Implementer()), ("declarer", Declarer())])
    assert pm.hook.greeting_words.spec is not None and pm.hook.greeting_words.spec.namespace is GreetingSpecs
    assert pm.hook.greeting_words(name="Ada") == [["hello", "Ada"]]

    class Mistyped:
        @hookimpl
        def greeting_words(self, nmae: str) -> list[str]:
            return []

    with pytest.raises(pluggy.PluginValidationError):  # the declared spec is enforced on implementations
        create_plugin_manager([], extra_plugins=[("declarer", Declarer()), ("mistyped", Mistyped())])


def test_the_domain_hooks_are_declared_by_the_parts_that_own_them() -> None:
    import plugins.vertical.hookspecs
    import schema.billing.hookspecs
    import schema.organizations.hookspecs

    def declared_by(pm: pluggy.PluginManager, hook: str) -> object:
        spec = getattr(pm.hook, hook).spec
        return spec.namespace if spec is not None else None

    core_only = create_plugin_manager([])
    assert declared_by(core_only, "gateway_invoice_lines") is schema.billing.hookspecs
    assert declared_by(core_only, "gateway_payment_processor") is schema.billing.hookspecs
    assert declared_by(core_only, "gateway_verify_domain") is schema.organizations.hookspecs
    assert not hasattr(core_only.hook, "gateway_upgrade_runner")  # the vertical plugin is off: its hook is unknown
    assert declared_by(create_plugin_manager(["vertical"]), "gateway_upgrade_runner") is plugins.vertical.hookspecs


def test_every_core_part_is_a_plugin_registered_by_the_core() -> None:
    pm = create_plugin_manager([])
    parts = sorted(p.parent.name for p in ROOT.glob("schema/*/plugin.py"))
    registered = [name for name, _ in pm.list_name_plugin()]
    assert sorted(name.split(".", 1)[1] for name in registered if name.startswith("core.")) == parts
    assert [name for name, _ in enabled_plugins(pm)] == ["core"]  # users enable the core, not its parts
    assert {owner_of(name) for name in registered} == {"core"}
    assert not list(ROOT.glob("schema/*/contributions.py"))  # no second, private registry
    # the core's own actions come first, then its parts' and the plugins' (the access matrix order)
    first = pm.hook.gateway_actions.get_hookimpls()
    assert any(impl.plugin_name == "core" and impl.tryfirst for impl in first)


# ---------------------------------------------------------------- the host speaks no domain
def test_the_host_hookspecs_name_no_domain_word() -> None:
    import gateway.hookspecs

    pm = create_plugin_manager([])
    host_hooks = [name for name in dir(pm.hook) if not name.startswith("_")
                  and getattr(pm.hook, name).spec is not None
                  and getattr(pm.hook, name).spec.namespace is gateway.hookspecs]
    assert host_hooks and "gateway_event" in host_hooks
    for name in host_hooks:
        function = getattr(gateway.hookspecs, name)
        text = " ".join([name, function.__doc__ or "", *map(str, function.__annotations__.values())])
        assert not DOMAIN_WORDS.search(text), f"{name}: {DOMAIN_WORDS.search(text)}"
    source = (ROOT / "gateway" / "hookspecs.py").read_text().replace("\"partner_gateway\"", "")  # the project's name
    assert not DOMAIN_WORDS.search(source), DOMAIN_WORDS.findall(source)
    # and every hook the host declares has an implementation or a caller (no dead hook)
    python = "\n".join(p.read_text() for p in [*ROOT.glob("gateway/**/*.py"), *ROOT.glob("schema/**/*.py"),
                                               *ROOT.glob("plugins/**/*.py")] if p.name != "hookspecs.py")
    for name in host_hooks:
        assert re.search(rf"\b{name}\b", python), f"hook {name} is declared but neither implemented nor called"


def test_every_hook_signature_is_typed_without_any() -> None:
    """The contract is precise: every parameter and return of the host's hookspecs is annotated, never Any."""
    tree = ast.parse((ROOT / "gateway" / "hookspecs.py").read_text())
    specs = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert specs
    for spec in specs:
        annotations = [arg.annotation for arg in spec.args.args] + [spec.returns]
        present = [a for a in annotations if a is not None]
        assert len(present) == len(annotations), spec.name
        assert "Any" not in {n.id for a in present for n in ast.walk(a) if isinstance(n, ast.Name)}, spec.name
