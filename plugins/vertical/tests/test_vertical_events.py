"""The vertical plugin's domain events: developer access granted/revoked and solution upgraded reach receivers
with their real types after the real mutations; a request for access emits nothing.

The test kit's ``hook_recorder`` sees every ``gateway_event`` call on the runtime while the test runs.
"""

from __future__ import annotations

from typing import Any

from gateway.events import DomainEvent
from gateway.testing import HookRecorder
from plugins.vertical.events import DeveloperAccessGranted, DeveloperAccessRevoked, SolutionUpgraded
from plugins.vertical.tests.conftest import VerticalWorld
from plugins.vertical.tests.test_vertical_graphql import ACCESS, UPGRADE


def vertical_events(recorder: HookRecorder) -> list[DomainEvent]:
    return [event for event in recorder.events if event.type.startswith(("developer_access.", "solution."))]


async def test_developer_access_and_upgrades_emit_typed_events(
        vworld: VerticalWorld, client: Any, hook_recorder: HookRecorder) -> None:
    acme = {"input": {"instanceId": vworld.instance_id("acme")}}
    partner, organization = vworld.world.partners["devco"], vworld.world.organizations["acme"]

    (await client.query(ACCESS % "requestDeveloperAccess", acme, role="developer")).ok()
    assert vertical_events(hook_recorder) == []  # a request hands nothing over
    (await client.query(ACCESS % "grantDeveloperAccess", acme, role="org_super_admin")).ok()
    (await client.query(ACCESS % "revokeDeveloperAccess", acme, role="org_super_admin")).ok()
    granted, revoked = vertical_events(hook_recorder)
    assert hook_recorder.event_types() == ["developer_access.granted", "developer_access.revoked"]
    assert type(granted) is DeveloperAccessGranted and type(revoked) is DeveloperAccessRevoked
    for event in (granted, revoked):
        assert (event.instance_id, event.solution_id, event.organization_id, event.partner_id) == (
            vworld.instances["acme"], vworld.solution, organization, partner)
    assert granted.access_id == revoked.access_id

    hook_recorder.clear()
    upgraded = (await client.query(UPGRADE, acme, role="org_super_admin")).ok()["upgradeSolutionInstance"]
    assert upgraded["upgrade"]["status"] == "COMPLETED"
    [upgrade] = vertical_events(hook_recorder)
    assert isinstance(upgrade, SolutionUpgraded) and upgrade.type == "solution.upgraded"
    assert (upgrade.instance_id, upgrade.organization_id, upgrade.from_version_id, upgrade.to_version_id) == (
        vworld.instances["acme"], organization, vworld.versions["1.0.0"], vworld.versions["2.0.0"])
    assert SolutionUpgraded.from_json(upgrade.to_json()) == upgrade
    # the upgrade runner hook ran in the same request, before the event
    names = [name for name, _ in hook_recorder.calls]
    assert "gateway_upgrade_runner" in names and names.index("gateway_upgrade_runner") < names.index("gateway_event")
