"""What each viewer may see of people, deals, audit events and unverified organizations (review fixes)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.relay import encode_id
from gateway.testing import run_query
from schema import models
from schema.testing import build_world

NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on User { email } } }"
REVOKE = """mutation($input: OrganizationInput!) { revokePartnerAccess(input: $input) { userErrors { code } } }"""
ACCESS = """query($id: ID!) { organization(id: $id) { partnerAccess { status revokedBy { email } } } }"""


async def test_people_are_visible_only_to_those_who_may_read_the_organizations_members(runtime: Any) -> None:
    world = await build_world(runtime)
    boss = encode_id("User", world.user_ids["org_super_admin"])
    colleague = encode_id("User", world.user_ids["reseller_analyst"])
    for role, expected in [("no_role", [None, None]), ("reseller_analyst", [None, "analyst@resell.example"]),
                           ("distributor_admin", [None, None]), ("other_partner_admin", [None, None]),
                           ("org_member", ["boss@acme.example", None]),
                           ("reseller_admin", ["boss@acme.example", "analyst@resell.example"]),
                           ("platform_analyst", ["boss@acme.example", "analyst@resell.example"])]:
        found = (await run_query(runtime, NODES, {"ids": [boss, colleague]}, token=world.tokens[role])).ok()["nodes"]
        assert [n["email"] if n else None for n in found] == expected, role


async def test_who_revoked_access_is_shown_to_the_organization_not_to_mapping_only_readers(runtime: Any) -> None:
    world = await build_world(runtime)
    await run_query(runtime, REVOKE, {"input": {"organizationId": world.org_id("acme")}},
                    token=world.tokens["org_super_admin"])
    for role, email in [("org_admin", "boss@acme.example"), ("reseller_analyst", None), ("distributor_analyst", None)]:
        access = (await run_query(runtime, ACCESS, {"id": world.org_id("acme")}, token=world.tokens[role])
                  ).ok()["organization"]["partnerAccess"]
        assert access["status"] == "REVOKED"
        assert (access["revokedBy"] or {}).get("email") == email, role


async def test_a_large_deal_does_not_reveal_an_organization_the_partner_no_longer_sees(runtime: Any) -> None:
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        import datetime as dt

        session.add(models.LargeDeal(partner_id=world.partners["reseller"], organization_id=world.organizations["acme"],
                                     product_code="MAIL", estimated_licenses=100, estimated_value=Decimal("1000"),
                                     currency="USD", expected_close_date=dt.date(2030, 1, 1)))
    deals = """query($id: ID!) { partner(id: $id) { largeDeals { nodes { estimatedLicenses organization { domain } } } } }"""
    seen = (await run_query(runtime, deals, {"id": world.partner_id("reseller")}, token=world.tokens["reseller_analyst"])).ok()
    assert seen["partner"]["largeDeals"]["nodes"] == [{"estimatedLicenses": 100, "organization": {"domain": "acme.example"}}]
    tag = """mutation($input: TagPartnerInput!) { tagPartner(input: $input) { userErrors { code } } }"""
    await run_query(runtime, tag, {"input": {"organizationId": world.org_id("acme"), "partnerCode": "OTHER1"}},
                    token=world.tokens["org_super_admin"])
    after = await run_query(runtime, deals, {"id": world.partner_id("reseller")}, token=world.tokens["reseller_analyst"])
    assert after.error_codes == ["FORBIDDEN"]
    assert "acme.example" not in str(after.data)


async def test_audit_list_shows_organization_events_only_to_audit_readers(runtime: Any) -> None:
    world = await build_world(runtime)
    add = """mutation($input: AddOrganizationMemberInput!) { addOrganizationMember(input: $input) { userErrors { code } } }"""
    await run_query(runtime, add, {"input": {"organizationId": world.org_id("acme"), "email": "n@acme.example",
                                             "role": "MEMBER"}}, token=world.tokens["reseller_admin"])
    events = "{ auditEvents { nodes { action } } }"
    for role, visible in [("reseller_admin", True), ("org_admin", True), ("reseller_analyst", False),
                          ("distributor_analyst", False), ("org_member", False), ("platform_analyst", True)]:
        actions = [n["action"] for n in (await run_query(runtime, events, token=world.tokens[role])).ok()
                   ["auditEvents"]["nodes"]]
        assert ("organization.add_member" in actions) is visible, role


async def test_delegated_access_to_an_unverified_domain_manages_nothing(runtime: Any) -> None:
    world = await build_world(runtime)
    grant = """mutation($input: GrantPartnerAccessInput!) { grantPartnerAccess(input: $input) { userErrors { code } } }"""
    data = (await run_query(runtime, grant, {"input": {"organizationId": world.org_id("unverified"),
                                                       "partnerId": world.partner_id("other")}},
                            token=world.tokens["unverified_super_admin"])).ok()
    assert data["grantPartnerAccess"]["userErrors"] == []
    listed = (await run_query(runtime, "{ organizations { nodes { domain } } }", token=world.tokens["other_partner_admin"])).ok()
    assert listed["organizations"]["nodes"] == []
    # The mapped reseller's admin also holds (blocked) delegated access there: business data stays closed, with why.
    members = """query($id: ID!) { organization(id: $id) { members { totalCount } } }"""
    refused = await run_query(runtime, members, {"id": world.org_id("unverified")}, token=world.tokens["reseller_admin"])
    assert refused.error_codes == ["FORBIDDEN"] and "not verified" in refused.errors[0]["message"]


async def test_product_and_plan_filters_ignore_case(runtime: Any) -> None:
    world = await build_world(runtime)
    query = """query($f: OrganizationFilter) { organizations(filter: $f) { nodes { domain } } }"""
    data = (await run_query(runtime, query, {"f": {"productCode": "mail", "planCode": " mail_standard "}},
                            token=world.tokens["platform_analyst"])).ok()
    assert sorted(n["domain"] for n in data["organizations"]["nodes"]) == ["acme.example", "direct.example"]


async def test_a_refused_mutation_does_not_break_the_next_one_in_the_same_document(runtime: Any) -> None:
    world = await build_world(runtime)
    # The rollback of the first expires the rows cached for access checks; the second (on another
    # organization, so the checks run again) must not trip over them.
    document = """mutation($id: ID!, $other: ID!) {
      first: updateOrganizationDetails(input: {organizationId: $id}) { userErrors { code } }
      second: updateOrganizationDetails(input: {organizationId: $other, name: "Renamed"}) {
        organization { name viewerAccess { via } } userErrors { code } } }"""
    data = (await run_query(runtime, document, {"id": world.org_id("acme"), "other": world.org_id("unverified")},
                            token=world.tokens["reseller_admin"])).ok()
    assert data["first"]["userErrors"] == [{"code": "NOTHING_TO_UPDATE"}]
    assert data["second"] == {"organization": {"name": "Renamed", "viewerAccess": {"via": "PARTNER_MAPPING"}},
                              "userErrors": []}
