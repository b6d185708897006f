"""The host's generic seams: role maps by scope, suspended grants, restricted codes declared by the part."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth import Viewer
from gateway.errors import DomainError, Forbidden, PluginContractError
from gateway.hookspecs import hookimpl
from gateway.policy import SUSPENDED, Action, ActionRegistry, Grant, SuspendedRefusal
from gateway.testing import create_tables, make_test_runtime
from schema.access import DISABLED_PARTNER
from schema.memberships import ORGANIZATION_SCOPE, PARTNER_SCOPE, organization_roles, partner_roles

EDIT = Action("thing.edit", "edit this thing", frozenset({"member:OWNER"}), restricted=frozenset({"member:GUEST"}),
              restricted_code="GUEST_RESTRICTED", restricted_message="A guest cannot {description}.")


def registry(suspended: SuspendedRefusal | None = None) -> ActionRegistry:
    actions = ActionRegistry(suspended)
    actions.register("test", [EDIT])
    return actions


def test_a_suspended_grant_allows_nothing_and_is_refused_with_the_declared_words() -> None:
    actions = registry(SuspendedRefusal("CLUB_CLOSED", "Your club is closed, so you cannot {description}."))
    held = [Grant("member:OWNER", via="MEMBERSHIP", through=7, suspended=True)]
    assert not actions.permits("thing.edit", held) and actions.refused_as_suspended("thing.edit", held)
    with pytest.raises(DomainError) as refused:
        actions.decide("thing.edit", held)
    assert (refused.value.code, str(refused.value.message)) == ("CLUB_CLOSED", "Your club is closed, so you cannot edit this thing.")
    reading = actions.suspended_refusal("thing.edit", reading=True)
    assert isinstance(reading, Forbidden) and reading.extensions["reason"] == "CLUB_CLOSED"
    assert actions.decide("thing.edit", [Grant("member:OWNER", via="MEMBERSHIP", through=7)]).grant.through == 7


def test_without_an_answer_the_host_refuses_a_suspended_grant_in_its_own_words() -> None:
    actions = registry()
    assert actions.suspended is SUSPENDED
    refusal = actions.suspended_refusal("thing.edit")
    assert isinstance(refusal, DomainError) and refusal.code == "SUSPENDED"


def test_a_restricted_grant_gets_the_code_and_message_its_action_declares() -> None:
    with pytest.raises(DomainError) as refused:
        registry().decide("thing.edit", [Grant("member:GUEST", via="MEMBERSHIP")])
    assert (refused.value.code, refused.value.message) == ("GUEST_RESTRICTED", "A guest cannot edit this thing.")


def test_a_restricted_list_without_its_code_and_message_fails_the_start() -> None:
    with pytest.raises(PluginContractError, match="restricted_code"):
        ActionRegistry().register("test", [Action("thing.drop", "drop it", frozenset(), restricted=frozenset({"x"}))])


class ClubMemberships:
    """A plugin with a scope of its own, and a second answer for one of the core's scopes."""

    @hookimpl
    def gateway_viewer_memberships(self, session: AsyncSession, user_id: int) -> Mapping[str, Mapping[int, str]]:
        return {"club": {3: "OWNER"}, PARTNER_SCOPE: {99: "PARTNER_ANALYST"}}


async def test_role_maps_are_merged_scope_by_scope() -> None:
    runtime = make_test_runtime("sqlite", plugins=["core"], extra_plugins=[("clubs", ClubMemberships())])
    try:
        await create_tables(runtime)
        async with runtime.sessions() as session:
            roles = await runtime.memberships(session, user_id=12345)  # no such user: the core answers empty maps
    finally:
        await runtime.dispose()
    viewer = Viewer(user_id=12345, roles=roles)
    assert viewer.roles_in("club") == {3: "OWNER"}
    assert partner_roles(viewer) == {99: "PARTNER_ANALYST"} and organization_roles(viewer) == {}
    assert Viewer().roles_in(ORGANIZATION_SCOPE) == {}


async def test_the_core_answers_the_suspended_refusal_with_reseller_disabled() -> None:
    runtime = make_test_runtime("sqlite", plugins=["core"])
    try:
        assert runtime.actions.suspended == DISABLED_PARTNER and DISABLED_PARTNER.code == "RESELLER_DISABLED"
    finally:
        await runtime.dispose()
