"""The test kit's fixtures (schema/pytest_plugin.py) and generic pieces (gateway/testing.py) do what they promise."""

from __future__ import annotations

import pytest

from gateway import testing as kit
from gateway.plugins import enabled_plugins
from gateway.testing import (
    POSTGRES_ENV,
    GraphQLResult,
    HookRecorder,
    RoleClient,
    outcome_of,
)
from schema import pytest_plugin
from schema.organizations.events import PartnerAccessRevoked
from schema.testing import ROLES

ORGANIZATION = "query($id: ID!) { organization(id: $id) { name } }"
REVOKE = """mutation($input: OrganizationInput!) { revokePartnerAccess(input: $input) {
  organization { name } userErrors { code } } }"""
VIEWER = "{ viewer { user { email } } }"


def test_the_plugin_reads_the_same_setting_as_the_kit():
    assert pytest_plugin.POSTGRES_ENV == POSTGRES_ENV
    assert pytest_plugin.backends() == kit.test_backends()


async def test_the_core_tests_run_on_the_core_alone(runtime, gateway_plugins):
    assert gateway_plugins == ["core"]
    assert [name for name, _ in enabled_plugins(runtime.plugin_manager)] == ["core"]


async def test_the_runtime_is_emptied_for_each_test_first(runtime, world):
    assert set(world.tokens) >= set(ROLES)
    async with runtime.sessions() as session:
        from sqlalchemy import func, select

        from schema.models import Organization
        assert await session.scalar(select(func.count()).select_from(Organization)) == 3


async def test_the_runtime_is_emptied_for_each_test_second(runtime, world):
    # the same shared runtime: had the tables not been emptied, the world's unique domains would clash
    assert world.org_id("acme")


async def test_the_client_acts_as_a_role(client, world):
    assert (await client.query(VIEWER)).ok() == {"viewer": {"user": {"email": "admin@acme.example"}}}
    reseller = client.as_role("reseller_admin")
    assert (await reseller.query(VIEWER)).ok() == {"viewer": {"user": {"email": "admin@resell.example"}}}
    assert (await reseller.query(VIEWER, role="platform_admin")).ok() == {
        "viewer": {"user": {"email": "admin@platform.example"}}}
    assert (await client.query(ORGANIZATION, {"id": world.org_id("acme")}, role="anonymous")).error_codes == [
        "UNAUTHENTICATED"]
    with pytest.raises(KeyError, match="no token for role 'nobody'"):
        client.as_role("nobody")


async def test_count_sql_counts_only_inside_the_block(client, count_sql):
    await client.query(VIEWER)  # whatever the first request caches is not counted below
    with count_sql() as counter:
        await client.query(VIEWER)
    seen = counter.count
    assert seen > 0 and len(counter.statements) == seen
    assert any("select" in statement.lower() for statement in counter.statements)
    await client.query(VIEWER)
    assert counter.count == seen


async def test_hook_recorder_sees_the_domain_event_of_a_core_mutation(client, world, hook_recorder):
    refused = await client.query(REVOKE, {"input": {"organizationId": world.org_id("acme")}}, role="org_member")
    assert refused.error_codes == ["FORBIDDEN"]
    assert hook_recorder.events == [] and hook_recorder.called("gateway_event") == []
    assert hook_recorder.called("gateway_viewer_memberships")  # every request authenticates its viewer

    done = await client.query(REVOKE, {"input": {"organizationId": world.org_id("acme")}}, role="org_super_admin")
    assert done.ok()["revokePartnerAccess"]["userErrors"] == []
    assert hook_recorder.event_types() == ["partner_access.revoked"]
    [event] = hook_recorder.events
    assert isinstance(event, PartnerAccessRevoked)
    assert (event.organization_id, event.partner_id) == (world.organizations["acme"], world.partners["reseller"])
    [call] = hook_recorder.called("gateway_event")
    assert call["event"] is event and call["ctx"].viewer.user_id == world.user_ids["org_super_admin"]
    hook_recorder.clear()
    assert hook_recorder.calls == []


async def test_a_hook_recorder_stops_recording_when_it_is_off(runtime, client):
    with HookRecorder(runtime.plugin_manager) as recorder:
        await client.query(VIEWER)
    seen = len(recorder.calls)
    assert seen > 0 and {name for name, _ in recorder.calls} >= {"gateway_viewer_memberships"}
    await client.query(VIEWER)
    assert len(recorder.calls) == seen
    with HookRecorder(runtime.plugin_manager) as outer, HookRecorder(runtime.plugin_manager) as inner:
        await client.query(VIEWER)
    assert len(outer.calls) == len(inner.calls) > 0  # recorders nest


def _visible(role: str, result: GraphQLResult) -> str | None:
    return "hidden" if result.data["organization"] is None else None


async def test_assert_access_matrix_passes_on_the_true_outcomes(assert_access_matrix, client, world):
    async def run(role, token):
        return await client.query(ORGANIZATION, {"id": world.org_id("acme")}, role=role)

    seen = await assert_access_matrix({
        "org_admin": "ok", "org_member": "ok", "reseller_admin": "ok", "platform_admin": "ok",
        "no_role": "hidden", "other_partner_admin": "hidden", "anonymous": "UNAUTHENTICATED",
    }, run, ok=_visible)
    assert seen["no_role"] == "hidden" and seen["org_admin"] == "ok"


async def test_assert_access_matrix_reports_every_mismatch_at_once(assert_access_matrix, gql, world):
    async def run(role, token):
        return await gql(REVOKE, {"input": {"organizationId": world.org_id("direct")}}, token=token)

    with pytest.raises(AssertionError) as failure:
        await assert_access_matrix({"org_member": "ok", "direct_super_admin": "NO_ACTIVE_PARTNER_ACCESS",
                                    "no_role": "ok",
                                    "anonymous": "FORBIDDEN", "ghost": "ok"}, run)
    message = str(failure.value)
    assert message.startswith("access matrix: 4 of 5 roles differ")
    assert "org_member: expected ok, got FORBIDDEN" in message
    assert "no_role: expected ok, got FORBIDDEN" in message
    assert "anonymous: expected FORBIDDEN, got UNAUTHENTICATED" in message
    assert "ghost: no token for this role" in message
    assert "direct_super_admin:" not in message  # a userErrors code, as expected: no partner has access there


async def test_a_failed_check_is_that_roles_mismatch(assert_access_matrix, client):
    async def run(role, token):
        assert role != "platform_admin", "this run refuses the platform admin"
        return await client.query(VIEWER, role=role)

    def email_is_the_admins(role, result):
        assert result.data["viewer"]["user"]["email"] == "admin@acme.example"

    with pytest.raises(AssertionError) as failure:
        await assert_access_matrix({"org_admin": "ok", "org_member": "ok", "platform_admin": "ok"}, run,
                                   ok=email_is_the_admins)
    assert "access matrix: 2 of 3 roles differ" in str(failure.value)
    assert "org_member: expected ok, got ok, but the check failed" in str(failure.value)
    assert "platform_admin: expected ok, the run failed: this run refuses the platform admin" in str(failure.value)


def test_outcome_of_reads_top_level_codes_then_user_errors():
    class Raw:
        def __init__(self, data, errors=()):
            self.data, self.errors = data, [type("E", (), {"formatted": e})() for e in errors]

    assert outcome_of(GraphQLResult(Raw({"x": {"userErrors": []}}))) == "ok"
    assert outcome_of(GraphQLResult(Raw({"x": {"userErrors": [{"code": "TAKEN"}]}}))) == "TAKEN"
    assert outcome_of(GraphQLResult(Raw(None, [{"extensions": {"code": "NOT_FOUND"}}]))) == "NOT_FOUND"


async def test_a_role_client_needs_a_known_role(runtime):
    client = RoleClient(runtime, {"a": None}, "a")
    assert client.token() is None
    with pytest.raises(KeyError):
        await client.query(VIEWER, role="b")
