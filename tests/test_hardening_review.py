"""A hostile second look at issue 11's fixes: the holes it found, each closed for its whole class.

1. A membership a partner admin added through delegated access is lent: it counts only while that
   partner's delegation is active and the partner enabled. Revocation deletes such memberships, but
   a disabled partner's staff it let in kept reading the customer's people and mail, and a membership
   written while a revocation committed (or any row left behind) kept working.
2. Card numbers sent in a request came back in error messages: enum and scalar coercion errors, invalid
   global IDs and unknown input fields echo the value. Every error message is masked before it leaves.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

import httpx
import pytest
from sqlalchemy import update

from gateway.auth import Viewer
from gateway.context import Context
from gateway.errors import DomainError
from gateway.http import create_app
from gateway.runtime import Runtime
from gateway.testing import run_query, shared_runtime
from plugins.mail.testing import build_mail_world
from schema import models
from schema.people import service as people

ADD_MEMBER = """mutation($input: AddOrganizationMemberInput!) { addOrganizationMember(input: $input) {
  member { role } userErrors { code } } }"""
MEMBERS = """query($id: ID!) { organization(id: $id) { members { nodes { user { email } } } } }"""
MAIL_USERS = """query($id: ID!) { organization(id: $id) { mail { users { nodes { email } } } } }"""
VIEWER_ORGS = "{ viewer { organizationMemberships { role organization { domain } } } organizations { totalCount } }"


@pytest.fixture
async def runtime(backend: str) -> AsyncIterator[Runtime]:
    """Every plugin enabled: mail is part of what a lent membership reaches."""
    yield await shared_runtime(backend)


async def set_partner_status(runtime: Runtime, partner_id: int, status: str) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.Partner).where(models.Partner.id == partner_id).values(status=status))


async def lend_membership_to_the_analyst(runtime: Runtime) -> Any:
    """The reseller's admin adds the reseller's own analyst to acme (MEMBER) through delegated access."""
    mw = await build_mail_world(runtime)
    world = mw.world
    added = (await run_query(runtime, ADD_MEMBER, {"input": {
        "organizationId": world.org_id("acme"), "email": "analyst@resell.example", "role": "MEMBER"}},
        token=world.tokens["reseller_admin"])).ok()["addOrganizationMember"]
    assert added == {"member": {"role": "MEMBER"}, "userErrors": []}
    return world


async def analyst_reach(runtime: Runtime, world: Any) -> dict[str, Any]:
    token = world.tokens["reseller_analyst"]
    acme = world.org_id("acme")
    members = await run_query(runtime, MEMBERS, {"id": acme}, token=token)
    mail = await run_query(runtime, MAIL_USERS, {"id": acme}, token=token)
    viewer = (await run_query(runtime, VIEWER_ORGS, token=token)).ok()
    return {
        "members": bool(members.data and members.data["organization"] and members.data["organization"]["members"]
                        and members.data["organization"]["members"]["nodes"]),
        "mail": bool(mail.data and mail.data["organization"] and mail.data["organization"]["mail"]
                     and mail.data["organization"]["mail"]["users"]["nodes"]),
        "memberships": [m["organization"]["domain"] for m in viewer["viewer"]["organizationMemberships"]],
    }


# ---------------------------------------------------------------- 1. lent memberships
async def test_a_membership_lent_by_a_disabled_partner_reaches_nothing_until_it_is_enabled(runtime: Runtime) -> None:
    """A disabled reseller "can do nothing": not through the people it let into its customers either."""
    world = await lend_membership_to_the_analyst(runtime)
    assert await analyst_reach(runtime, world) == {"members": True, "mail": True, "memberships": ["acme.example"]}
    await set_partner_status(runtime, world.partners["reseller"], "DISABLED")
    assert await analyst_reach(runtime, world) == {"members": False, "mail": False, "memberships": []}
    await set_partner_status(runtime, world.partners["reseller"], "ACTIVE")  # suspended, not removed
    assert await analyst_reach(runtime, world) == {"members": True, "mail": True, "memberships": ["acme.example"]}


async def test_a_lent_membership_left_behind_after_revocation_reaches_nothing(runtime: Runtime) -> None:
    """Revocation deletes the partner's memberships; one written by an add that raced the revocation
    (checked while the delegation was active, committed after) must not work either."""
    world = await lend_membership_to_the_analyst(runtime)
    async with runtime.sessions() as session, session.begin():  # the revocation, as committed first
        await session.execute(update(models.PartnerAccess).where(
            models.PartnerAccess.organization_id == world.organizations["acme"]).values(status="REVOKED"))
    assert await analyst_reach(runtime, world) == {"members": False, "mail": False, "memberships": []}


async def test_the_customers_own_memberships_do_not_depend_on_any_partner(runtime: Runtime) -> None:
    """Only lent memberships follow the partner: the customer's own members keep theirs whatever happens to it."""
    world = await lend_membership_to_the_analyst(runtime)
    await set_partner_status(runtime, world.partners["reseller"], "DISABLED")
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.PartnerAccess).values(status="REVOKED"))
    for role in ("org_super_admin", "org_admin", "org_member"):
        data = (await run_query(runtime, MEMBERS, {"id": world.org_id("acme")}, token=world.tokens[role])).ok()
        assert data["organization"]["members"]["nodes"], role


async def test_an_add_through_a_delegation_that_ended_meanwhile_is_refused_by_the_service(runtime: Runtime) -> None:
    """The race's other half: the service re-reads the delegation, locked, before writing the membership."""
    mw = await build_mail_world(runtime)
    world = mw.world
    async with runtime.sessions() as session, session.begin():  # the revocation commits after the resolver's check
        await session.execute(update(models.PartnerAccess).where(
            models.PartnerAccess.organization_id == world.organizations["acme"]).values(status="REVOKED"))
    async with runtime.sessions() as session, session.begin():
        ctx = Context(runtime=runtime, session=session, viewer=Viewer(user_id=world.user_ids["reseller_admin"]))
        with pytest.raises(DomainError) as refused:
            await people.add_organization_member(ctx, world.organizations["acme"], email="late@resell.example",
                                                 name=None, role="MEMBER", via_partner_id=world.partners["reseller"])
    assert refused.value.code == "PARTNER_ACCESS_REVOKED"
