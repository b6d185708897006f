"""Delegated admin access is lent, not given (issue 11, item 1).

A partner admin acting through delegated access adds organization members with the role MEMBER
only (an admin role is PARTNER_ADMIN_RESTRICTED); the memberships it adds are recorded as the
partner's (``OrganizationMember.addedByPartner``) and are removed, each one audited in the
customer's log, when the delegation ends (revokePartnerAccess, or tagPartner moving to another
partner). A revoked partner that is still mapped keeps what mapping grants: subscriptions and
billing, and in the audit log only what its own people did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from gateway.auth import Viewer, get_or_create_user, issue_token
from gateway.context import Context
from gateway.errors import DomainError
from gateway.models import User
from gateway.runtime import Runtime
from gateway.testing import run_query, shared_runtime
from plugins.mail.testing import build_mail_world
from schema import models
from schema.people import service as people


@pytest.fixture
async def runtime(backend: str) -> AsyncIterator[Runtime]:
    """Every plugin enabled: the mail users are part of what a delegation must stop reaching."""
    yield await shared_runtime(backend)


ADD_MEMBER = """mutation($input: AddOrganizationMemberInput!) { addOrganizationMember(input: $input) {
  member { role user { email } addedByPartner { code } } userErrors { code field message } } }"""
REVOKE = """mutation($input: OrganizationInput!) { revokePartnerAccess(input: $input) { userErrors { code } } }"""
TAG = """mutation($input: TagPartnerInput!) { tagPartner(input: $input) { userErrors { code } } }"""
MEMBERS = """query($id: ID!) { organization(id: $id) { members { nodes { role user { email } addedByPartner { code } } } } }"""
MAIL_USERS = """query($id: ID!) { organization(id: $id) { mail { users { nodes { email } } } } }"""
AUDIT = """query($id: ID!) { organization(id: $id) { auditEvents(first: 50) { nodes {
  id action via details partner { code } actor { email } } } } }"""
ADD_MAIL_USER = """mutation($input: AddMailUserInput!) { addMailUser(input: $input) { user { role } userErrors { code } } }"""
CHANGE_SUBSCRIPTION = """mutation($input: ChangeSubscriptionInput!) { changeSubscription(input: $input) {
  subscription { licenseCount } userErrors { code } } }"""


async def token_for(runtime: Runtime, email: str) -> str:
    """A token for a user the test added through the API (the partner would know the password of its own address)."""
    async with runtime.sessions() as session, session.begin():
        user = await get_or_create_user(session, email, None)
        _, token = await issue_token(session, user, "test")
    return token


async def add_member(runtime: Runtime, token: str | None, organization_id: str, email: str, role: str) -> Any:
    result = await run_query(runtime, ADD_MEMBER, {"input": {"organizationId": organization_id, "email": email,
                                                             "role": role}}, token=token)
    return result


def outcome(result: Any) -> str:
    """OK, a user error code, or a top-level error code."""
    if result.errors:
        return result.error_codes[0]
    payload = result.data["addOrganizationMember"]
    return payload["userErrors"][0]["code"] if payload["userErrors"] else "OK"


async def memberships(runtime: Runtime, organization_pk: int) -> dict[str, tuple[str, int | None]]:
    """{email: (role, created_via_partner_id)} of the organization's members, as stored."""
    async with runtime.sessions() as session:
        rows = (await session.execute(
            select(User.email, models.OrganizationMember.role, models.OrganizationMember.created_via_partner_id)
            .join(User, User.id == models.OrganizationMember.user_id)
            .where(models.OrganizationMember.organization_id == organization_pk))).all()
    return {email: (role, partner) for email, role, partner in rows}


async def user_pk(runtime: Runtime, email: str) -> int:
    async with runtime.sessions() as session:
        return (await session.scalar(select(User.id).where(User.email == email)))  # type: ignore[return-value]


# ---------------------------------------------------------------- what a delegated admin may grant
@pytest.mark.parametrize("role", ["ADMIN", "SUPER_ADMIN"])
async def test_a_delegated_partner_admin_cannot_give_an_admin_role(runtime: Runtime, role: str) -> None:
    mw = await build_mail_world(runtime)
    world = mw.world
    result = await add_member(runtime, world.tokens["reseller_admin"], world.org_id("acme"), "spy@resell.example", role)
    payload = result.ok()["addOrganizationMember"]
    assert payload["member"] is None
    assert payload["userErrors"][0]["code"] == "PARTNER_ADMIN_RESTRICTED"
    assert "MEMBER only" in payload["userErrors"][0]["message"]
    assert "spy@resell.example" not in await memberships(runtime, world.organizations["acme"])


# Who may add a member with each role to acme (mapped to the reseller, which has delegated access) and to
# ``mapped`` (mapped to the reseller without delegated access), and whether the membership is the partner's.
ADMIN_ROLE_OUTCOMES = {
    ("org_super_admin", "acme"): "OK",
    ("org_admin", "acme"): "OK",  # the organization's admins may still give the admin role (the current matrix)
    ("platform_admin", "acme"): "OK",
    ("reseller_admin", "acme"): "PARTNER_ADMIN_RESTRICTED",  # delegated
    ("reseller_admin", "mapped"): "FORBIDDEN",  # mapped only: never the organization's people
    ("reseller_analyst", "acme"): "FORBIDDEN",
    ("distributor_admin", "acme"): "FORBIDDEN",  # upstream: read-only
    ("org_member", "acme"): "FORBIDDEN",
    ("other_partner_admin", "acme"): "FORBIDDEN",
}


@pytest.mark.parametrize("viewer,organization", list(ADMIN_ROLE_OUTCOMES))
async def test_who_may_add_an_admin_and_who_may_add_a_member(runtime: Runtime, viewer: str, organization: str) -> None:
    mw = await build_mail_world(runtime)
    world = mw.world
    admin_outcome = outcome(await add_member(runtime, world.tokens[viewer], world.org_id(organization),
                                             "new.admin@example.net", "ADMIN"))
    assert admin_outcome == ADMIN_ROLE_OUTCOMES[(viewer, organization)]
    member = await add_member(runtime, world.tokens[viewer], world.org_id(organization), "new.member@example.net",
                              "MEMBER")
    expected_member = "OK" if ADMIN_ROLE_OUTCOMES[(viewer, organization)] in ("OK", "PARTNER_ADMIN_RESTRICTED") \
        else "FORBIDDEN"
    assert outcome(member) == expected_member
    if expected_member == "OK":
        added = member.data["addOrganizationMember"]["member"]
        delegated = viewer == "reseller_admin"
        assert added["addedByPartner"] == ({"code": "RESEL1"} if delegated else None)
        stored = (await memberships(runtime, world.organizations[organization]))["new.member@example.net"]
        assert stored == ("MEMBER", world.partners["reseller"] if delegated else None)


async def test_the_service_refuses_an_admin_role_through_a_partner(runtime: Runtime) -> None:
    """The rule lives in the service too, whatever resolver calls it."""
    mw = await build_mail_world(runtime)
    async with runtime.sessions() as session, session.begin():
        ctx = Context(runtime=runtime, session=session, viewer=Viewer(user_id=mw.world.user_ids["reseller_admin"]))
        for role in ("ADMIN", "SUPER_ADMIN"):
            with pytest.raises(DomainError) as refused:
                await people.add_organization_member(ctx, mw.world.organizations["acme"], email="x@example.net",
                                                     name=None, role=role, via_partner_id=mw.world.partners["reseller"])
            assert refused.value.code == "PARTNER_ADMIN_RESTRICTED"


@pytest.mark.parametrize("mutation,variables", [
    ("addMailUser", lambda mw: {"organizationId": mw.org_id("acme"), "email": "x1@acme.example", "name": "X",
                                "role": "ADMIN"}),
    ("addMailUser", lambda mw: {"organizationId": mw.org_id("acme"), "email": "x2@acme.example", "name": "X",
                                "role": "SUPER_ADMIN"}),
    ("changeMailUserRole", lambda mw: {"organizationId": mw.org_id("acme"), "userId": mw.user_id("acme", "bob"),
                                       "role": "ADMIN"}),
    ("changeMailUserRole", lambda mw: {"organizationId": mw.org_id("acme"), "userId": mw.user_id("acme", "alice"),
                                       "role": "MEMBER"}),
    ("changeMailSuperAdmin", lambda mw: {"organizationId": mw.org_id("acme"), "userId": mw.user_id("acme", "bob")}),
])
async def test_mail_gives_no_admin_role_through_a_partner(runtime: Runtime, mutation: str, variables: Any) -> None:
    mw = await build_mail_world(runtime)
    input_type = {"addMailUser": "AddMailUserInput", "changeMailUserRole": "ChangeMailUserRoleInput",
                  "changeMailSuperAdmin": "ChangeMailSuperAdminInput"}[mutation]
    query = f"mutation($input: {input_type}!) {{ {mutation}(input: $input) {{ userErrors {{ code }} }} }}"
    result = (await run_query(runtime, query, {"input": variables(mw)}, token=mw.token("reseller_admin"))).ok()
    assert result[mutation]["userErrors"] == [{"code": "PARTNER_ADMIN_RESTRICTED"}]
    member = (await run_query(runtime, ADD_MAIL_USER, {"input": {
        "organizationId": mw.org_id("acme"), "email": "plain@acme.example", "name": "Plain", "role": "MEMBER"}},
        token=mw.token("reseller_admin"))).ok()["addMailUser"]
    assert member == {"user": {"role": "MEMBER"}, "userErrors": []}


# ---------------------------------------------------------------- what revocation takes away
async def test_revocation_removes_what_the_delegation_let_in(runtime: Runtime) -> None:
    """The attack end to end: the partner lets its own people in, the customer revokes, they are out."""
    mw = await build_mail_world(runtime)
    world = mw.world
    acme = world.org_id("acme")
    partner_admin = world.tokens["reseller_admin"]
    # Refused as ADMIN; as MEMBER: an address the partner controls and the partner's own analyst.
    assert outcome(await add_member(runtime, partner_admin, acme, "spy@resell.example", "ADMIN")) \
        == "PARTNER_ADMIN_RESTRICTED"
    for email in ("spy@resell.example", "analyst@resell.example"):
        assert outcome(await add_member(runtime, partner_admin, acme, email, "MEMBER")) == "OK"
    spy = await token_for(runtime, "spy@resell.example")
    analyst = world.tokens["reseller_analyst"]
    for token in (spy, analyst):  # while the delegation lasts, they are members and read the members and mail
        assert (await run_query(runtime, MEMBERS, {"id": acme}, token=token)).ok()["organization"]["members"]
        assert (await run_query(runtime, MAIL_USERS, {"id": acme}, token=token)).ok()["organization"]["mail"]
    listed = (await run_query(runtime, MEMBERS, {"id": acme}, token=world.tokens["org_super_admin"])).ok()
    assert {m["user"]["email"]: m["addedByPartner"] for m in listed["organization"]["members"]["nodes"]} == {
        "boss@acme.example": None, "admin@acme.example": None, "member@acme.example": None,
        "spy@resell.example": {"code": "RESEL1"}, "analyst@resell.example": {"code": "RESEL1"}}

    revoked = (await run_query(runtime, REVOKE, {"input": {"organizationId": acme}},
                               token=world.tokens["org_super_admin"])).ok()
    assert revoked["revokePartnerAccess"]["userErrors"] == []
    assert set(await memberships(runtime, world.organizations["acme"])) == {
        "boss@acme.example", "admin@acme.example", "member@acme.example"}

    # The spy reaches nothing at all any more.
    assert (await run_query(runtime, MEMBERS, {"id": acme}, token=spy)).ok() == {"organization": None}
    assert (await run_query(runtime, MAIL_USERS, {"id": acme}, token=spy)).ok() == {"organization": None}
    assert outcome(await add_member(runtime, spy, acme, "more@resell.example", "MEMBER")) == "FORBIDDEN"
    mail_add = await run_query(runtime, ADD_MAIL_USER, {"input": {
        "organizationId": acme, "email": "more@acme.example", "name": "More"}}, token=spy)
    assert mail_add.error_codes == ["FORBIDDEN"]
    # The partner's analyst keeps what the mapping gives it: the organization, not its people or mail.
    for query in (MEMBERS, MAIL_USERS):
        result = await run_query(runtime, query, {"id": acme}, token=analyst)
        assert result.error_codes == ["FORBIDDEN"], query

    # The customer sees each removal in its audit log, with the partner and the reason.
    events = (await run_query(runtime, AUDIT, {"id": acme}, token=world.tokens["org_super_admin"])).ok()
    removals = [e for e in events["organization"]["auditEvents"]["nodes"] if e["action"] == "organization.remove_member"]
    assert sorted(e["details"]["userId"] for e in removals) == sorted([
        world.user_ids["reseller_analyst"], await user_pk(runtime, "spy@resell.example")])
    for event in removals:
        assert event["partner"] == {"code": "RESEL1"} and event["via"] == "MEMBERSHIP"
        assert event["actor"] == {"email": "boss@acme.example"}
        assert event["details"]["reason"] == "DELEGATED_ACCESS_REVOKED" and event["details"]["role"] == "MEMBER"


async def test_moving_to_another_partner_ends_the_old_partners_memberships(runtime: Runtime) -> None:
    mw = await build_mail_world(runtime)
    world = mw.world
    acme = world.org_id("acme")
    assert outcome(await add_member(runtime, world.tokens["reseller_admin"], acme, "spy@resell.example", "MEMBER")) == "OK"
    tagged = (await run_query(runtime, TAG, {"input": {"organizationId": acme, "partnerCode": "OTHER1"}},
                              token=world.tokens["org_super_admin"])).ok()
    assert tagged["tagPartner"]["userErrors"] == []
    assert "spy@resell.example" not in await memberships(runtime, world.organizations["acme"])
    events = (await run_query(runtime, AUDIT, {"id": acme}, token=world.tokens["org_super_admin"])).ok()
    assert [e["details"]["reason"] for e in events["organization"]["auditEvents"]["nodes"]
            if e["action"] == "organization.remove_member"] == ["DELEGATED_ACCESS_REVOKED"]


async def test_the_customers_own_members_stay_when_access_is_revoked(runtime: Runtime) -> None:
    mw = await build_mail_world(runtime)
    world = mw.world
    acme = world.org_id("acme")
    for viewer, email in (("org_admin", "own.admin@acme.example"), ("platform_admin", "support@acme.example")):
        assert outcome(await add_member(runtime, world.tokens[viewer], acme, email, "ADMIN")) == "OK"
    await run_query(runtime, REVOKE, {"input": {"organizationId": acme}}, token=world.tokens["org_super_admin"])
    assert {"own.admin@acme.example", "support@acme.example"} <= set(await memberships(runtime, world.organizations["acme"]))


# ---------------------------------------------------------------- a revoked partner that is still mapped
async def test_a_revoked_but_mapped_partner_keeps_subscription_management_only(runtime: Runtime) -> None:
    mw = await build_mail_world(runtime)
    world = mw.world
    acme = world.org_id("acme")
    partner_admin = world.tokens["reseller_admin"]
    assert outcome(await add_member(runtime, partner_admin, acme, "spy@resell.example", "MEMBER")) == "OK"
    await run_query(runtime, REVOKE, {"input": {"organizationId": acme}}, token=world.tokens["org_super_admin"])

    change = (await run_query(runtime, CHANGE_SUBSCRIPTION, {"input": {
        "subscriptionId": world.subscription_id("acme_mail"), "licenseCount": 12, "idempotencyKey": "after-revoke"}},
        token=partner_admin)).ok()["changeSubscription"]
    assert change == {"subscription": {"licenseCount": 12}, "userErrors": []}
    reads = (await run_query(runtime, """query($id: ID!) { organization(id: $id) { name
      subscriptions { totalCount } paymentMethod { brand } } }""", {"id": acme}, token=partner_admin)).ok()
    assert reads["organization"]["name"] and reads["organization"]["subscriptions"]["totalCount"] == 1

    for query in (MEMBERS, MAIL_USERS):
        result = await run_query(runtime, query, {"id": acme}, token=partner_admin)
        assert result.error_codes == ["FORBIDDEN"] and "revoked" in result.errors[0]["message"], query
    assert outcome(await add_member(runtime, partner_admin, acme, "again@resell.example", "MEMBER")) == "FORBIDDEN"
    mail_add = await run_query(runtime, ADD_MAIL_USER, {"input": {
        "organizationId": acme, "email": "again@acme.example", "name": "Again"}}, token=partner_admin)
    assert mail_add.error_codes == ["FORBIDDEN"]

    # The audit log: only what the partner's own people did, not the customer's actions.
    customer_view = (await run_query(runtime, AUDIT, {"id": acme}, token=world.tokens["org_super_admin"])).ok()
    partner_view = (await run_query(runtime, AUDIT, {"id": acme}, token=partner_admin)).ok()
    customer_events = customer_view["organization"]["auditEvents"]["nodes"]
    partner_events = partner_view["organization"]["auditEvents"]["nodes"]
    assert {e["action"] for e in customer_events} >= {"organization.revoke_partner_access", "subscription.change"}
    assert partner_events and all(e["partner"] == {"code": "RESEL1"} for e in partner_events)
    assert "organization.revoke_partner_access" not in {e["action"] for e in partner_events}
    top_level = (await run_query(runtime, "{ auditEvents(first: 50) { nodes { action partner { code } } } }",
                                 token=partner_admin)).ok()["auditEvents"]["nodes"]
    assert "organization.revoke_partner_access" not in {e["action"] for e in top_level}
    customer_event = next(e for e in customer_events if e["action"] == "organization.revoke_partner_access")
    node = (await run_query(runtime, "query($id: ID!) { node(id: $id) { id } }", {"id": customer_event["id"]},
                            token=partner_admin)).ok()
    assert node == {"node": None}


async def test_mapping_only_reaches_no_business_data_for_any_mapped_role(runtime: Runtime) -> None:
    """``mapped`` has never been delegated: the reseller's admin and analyst see no people and no mail there."""
    mw = await build_mail_world(runtime)
    world = mw.world
    mapped = world.org_id("mapped")
    for role in ("reseller_admin", "reseller_analyst"):
        for query in (MEMBERS, MAIL_USERS):
            result = await run_query(runtime, query, {"id": mapped}, token=world.tokens[role])
            assert result.error_codes == ["FORBIDDEN"], (role, query)


async def test_declared_mapped_grants_reach_no_business_data(runtime: Runtime) -> None:
    """Every declared action (core and plugins) that a mapped partner's grants allow is about the account,
    subscriptions or billing; none reads or changes the organization's people, mail or solution data."""
    business = {"organization.read_members", "organization.read_audit", "organization.add_member",
                "organization.add_admin_member", "solution_instance.read_data"}
    mapped = {"mapped:PARTNER_ADMIN", "mapped:PARTNER_ANALYST", "mapped:DEVELOPER"}
    reached = {a.name for a in runtime.actions if a.allowed & mapped}
    assert not reached & business
    assert not {name for name in reached if name.startswith("mail.")}
