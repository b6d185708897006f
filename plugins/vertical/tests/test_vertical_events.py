"""The vertical plugin's domain events: developer access granted/revoked and solution upgraded reach receivers
with their real types after the real mutations; a request for access emits nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.context import Context
from gateway.events import DomainEvent
from gateway.hookspecs import hookimpl
from gateway.runtime import Runtime
from gateway.testing import clear_tables, create_tables, make_test_runtime, run_query
from plugins.vertical.events import DeveloperAccessGranted, DeveloperAccessRevoked, SolutionUpgraded
from plugins.vertical.tests.conftest import VerticalWorld, build_vertical_world
from plugins.vertical.tests.test_vertical_graphql import ACCESS, UPGRADE


class Recorder:
    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    @hookimpl
    def gateway_event(self, ctx: Context, event: DomainEvent) -> None:
        if event.type.startswith(("developer_access.", "solution.")):
            self.events.append(event)


@pytest.fixture
async def recorded(backend: str) -> AsyncIterator[tuple[Runtime, VerticalWorld, Recorder]]:
    recorder = Recorder()
    runtime = make_test_runtime(backend, plugins=["vertical"], extra_plugins=[("recorder", recorder)])
    await create_tables(runtime)
    await clear_tables(runtime)
    try:
        yield runtime, await build_vertical_world(runtime), recorder
    finally:
        await clear_tables(runtime)
        await runtime.dispose()


async def test_developer_access_and_upgrades_emit_typed_events(
        recorded: tuple[Runtime, VerticalWorld, Recorder]) -> None:
    runtime, vworld, recorder = recorded
    acme = {"input": {"instanceId": vworld.instance_id("acme")}}
    boss, dev = vworld.tokens["org_super_admin"], vworld.tokens["developer"]
    partner, organization = vworld.world.partners["devco"], vworld.world.organizations["acme"]

    (await run_query(runtime, ACCESS % "requestDeveloperAccess", acme, token=dev)).ok()
    assert recorder.events == []  # a request hands nothing over
    (await run_query(runtime, ACCESS % "grantDeveloperAccess", acme, token=boss)).ok()
    (await run_query(runtime, ACCESS % "revokeDeveloperAccess", acme, token=boss)).ok()
    granted, revoked = recorder.events
    assert type(granted) is DeveloperAccessGranted and type(revoked) is DeveloperAccessRevoked
    for event in (granted, revoked):
        assert (event.instance_id, event.solution_id, event.organization_id, event.partner_id) == (
            vworld.instances["acme"], vworld.solution, organization, partner)
    assert granted.access_id == revoked.access_id

    recorder.events.clear()
    upgraded = (await run_query(runtime, UPGRADE, acme, token=boss)).ok()["upgradeSolutionInstance"]
    assert upgraded["upgrade"]["status"] == "COMPLETED"
    [upgrade] = recorder.events
    assert isinstance(upgrade, SolutionUpgraded) and upgrade.type == "solution.upgraded"
    assert (upgrade.instance_id, upgrade.organization_id, upgrade.from_version_id, upgrade.to_version_id) == (
        vworld.instances["acme"], organization, vworld.versions["1.0.0"], vworld.versions["2.0.0"])
    assert SolutionUpgraded.from_json(upgrade.to_json()) == upgrade
