"""Organizations: creation, domain verification, details, partner mapping and delegated access."""

from __future__ import annotations

from typing import Any

from gateway.hookspecs import hookimpl
from gateway.testing import clear_tables, create_tables, make_test_runtime, run_query
from schema.testing import build_world

CREATE = """mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) {
  organization { id name domain domainVerified status domainVerificationCode address { city country }
                 partner { code } partnerAccess { status partner { code } } viewerAccess { via role notice }
                 partnerMappings { mappedBy partner { code } } }
  userErrors { field message code } } }"""
ORG = """query($id: ID!) { organization(id: $id) { id name domain domainVerified domainVerificationCode
  partner { code } partnerMappings { mappedBy unmappedAt partner { code } }
  partnerAccess { status revokedAt revokedBy { email } partner { code } } viewerAccess { via role notice } } }"""
MEMBERS = """query($id: ID!) { organization(id: $id) { members(first: 10) { totalCount nodes { role user { email } } } } }"""


def create_input(world: Any, **overrides: Any) -> dict[str, Any]:
    return {"partnerId": world.partner_id("reseller"), "name": "New Co", "domain": "NewCo.Example",
            "superAdminEmail": "Boss@NewCo.example", "superAdminName": "Nina Boss",
            "address": {"line1": "1 Rue", "city": "Paris", "postalCode": "75001", "country": "fr"}, **overrides}


async def test_create_organization_maps_partner_grants_access_and_creates_the_super_admin(runtime: Any) -> None:
    world = await build_world(runtime)
    data = (await run_query(runtime, CREATE, {"input": create_input(world)}, token=world.tokens["reseller_admin"])).ok()
    payload = data["createOrganization"]
    assert payload["userErrors"] == []
    org = payload["organization"]
    assert org["domain"] == "newco.example" and org["domainVerified"] is False and org["status"] == "TRIAL"
    assert org["address"] == {"city": "Paris", "country": "FR"}
    assert org["partner"]["code"] == "RESEL1"
    assert org["partnerAccess"] == {"status": "ACTIVE", "partner": {"code": "RESEL1"}}
    assert org["partnerMappings"] == [{"mappedBy": "PARTNER", "partner": {"code": "RESEL1"}}]
    assert org["domainVerificationCode"].startswith("pgw-verify-")
    assert org["viewerAccess"]["via"] == "PARTNER_MAPPING"
    assert "not verified" in org["viewerAccess"]["notice"]

    # The super admin exists, signs in with a new token and sees the code too.
    from sqlalchemy import select

    from gateway.auth import issue_token
    from gateway.models import User

    async with runtime.sessions() as session, session.begin():
        user = await session.scalar(select(User).where(User.email == "boss@newco.example"))
        assert user is not None and user.name == "Nina Boss"
        _, token = await issue_token(session, user, "t")
    own = (await run_query(runtime, ORG, {"id": org["id"]}, token=token)).ok()["organization"]
    assert own["viewerAccess"] == {"via": "MEMBERSHIP", "role": "SUPER_ADMIN", "notice": None}
    assert own["domainVerificationCode"] == org["domainVerificationCode"]
    # An analyst of the partner sees the organization, not the code.
    analyst = (await run_query(runtime, ORG, {"id": org["id"]}, token=world.tokens["reseller_analyst"])).ok()
    assert analyst["organization"]["domainVerificationCode"] is None


async def test_create_organization_refuses_bad_input_with_field_errors(runtime: Any) -> None:
    world = await build_world(runtime)
    token = world.tokens["reseller_admin"]
    cases = [
        ({"domain": "acme.example"}, "DOMAIN_TAKEN", ["domain"]),
        ({"domain": "not a domain"}, "INVALID_DOMAIN", ["domain"]),
        ({"name": "  "}, "NAME_REQUIRED", ["name"]),
        ({"superAdminEmail": "nobody"}, "INVALID_EMAIL", ["superAdminEmail"]),
        ({"superAdminEmail": "admin@resel1.example"}, "SUPER_ADMIN_OUTSIDE_DOMAIN", ["superAdminEmail"]),
        ({"superAdminEmail": "boss@notnewco.example"}, "SUPER_ADMIN_OUTSIDE_DOMAIN", ["superAdminEmail"]),
        ({"address": {"country": "XX"}}, "INVALID_COUNTRY", ["address", "country"]),
    ]
    for overrides, code, field in cases:
        payload = (await run_query(runtime, CREATE, {"input": create_input(world, **overrides)}, token=token)).ok()
        errors = payload["createOrganization"]["userErrors"]
        assert [(e["code"], e["field"]) for e in errors] == [(code, field)], overrides
        assert payload["createOrganization"]["organization"] is None
    count = (await run_query(runtime, "{ organizations { totalCount } }", token=token)).ok()
    assert count["organizations"]["totalCount"] == 2  # nothing half-written


VERIFY = """mutation($input: VerifyDomainInput!) { verifyDomain(input: $input) {
  organization { domainVerified domainVerificationCode viewerAccess { via notice } } userErrors { code field } } }"""


async def test_verify_domain_with_the_issued_code_then_the_partner_manages_it(runtime: Any) -> None:
    world = await build_world(runtime)
    token = world.tokens["reseller_admin"]
    wrong = (await run_query(runtime, VERIFY, {"input": {"organizationId": world.org_id("unverified"),
                                                         "verificationCode": "guess"}}, token=token)).ok()
    assert wrong["verifyDomain"]["userErrors"] == [{"code": "INVALID_VERIFICATION_CODE", "field": ["verificationCode"]}]
    managed = """query($id: ID!) { partner(id: $id) { managedOrganizations { nodes { domain } } } }"""
    before = (await run_query(runtime, managed, {"id": world.partner_id("reseller")}, token=token)).ok()
    assert [n["domain"] for n in before["partner"]["managedOrganizations"]["nodes"]] == ["acme.example"]
    ok = (await run_query(runtime, VERIFY, {"input": {"organizationId": world.org_id("unverified"),
                                                      "verificationCode": "verify-unverified"}}, token=token)).ok()
    org = ok["verifyDomain"]["organization"]
    assert org["domainVerified"] is True and org["domainVerificationCode"] is None
    assert org["viewerAccess"] == {"via": "PARTNER_ADMIN", "notice": "You are currently managing your customer unverified.example"}
    after = (await run_query(runtime, managed, {"id": world.partner_id("reseller")}, token=token)).ok()
    assert sorted(n["domain"] for n in after["partner"]["managedOrganizations"]["nodes"]) == [
        "acme.example", "unverified.example"]
    again = (await run_query(runtime, VERIFY, {"input": {"organizationId": world.org_id("unverified"),
                                                         "verificationCode": "verify-unverified"}}, token=token)).ok()
    assert again["verifyDomain"]["userErrors"][0]["code"] == "DOMAIN_ALREADY_VERIFIED"


class DnsCheck:
    """A deployment's verification hook: here, only codes ending in -dns pass."""

    @hookimpl
    def gateway_verify_domain(self, domain: str, expected_code: str, given_code: str) -> bool:
        return given_code.endswith("-dns")


async def test_domain_verification_is_a_hook_a_deployment_can_replace(backend: str) -> None:
    runtime = make_test_runtime(backend, plugins=["core"], extra_plugins=[("dns", DnsCheck())])
    await create_tables(runtime)
    await clear_tables(runtime)
    try:
        world = await build_world(runtime)
        variables = {"input": {"organizationId": world.org_id("unverified"), "verificationCode": "verify-unverified"}}
        refused = (await run_query(runtime, VERIFY, variables, token=world.tokens["reseller_admin"])).ok()
        assert refused["verifyDomain"]["userErrors"][0]["code"] == "INVALID_VERIFICATION_CODE"
        variables["input"]["verificationCode"] = "txt-record-dns"
        accepted = (await run_query(runtime, VERIFY, variables, token=world.tokens["reseller_admin"])).ok()
        assert accepted["verifyDomain"]["organization"]["domainVerified"] is True
    finally:
        await clear_tables(runtime)
        await runtime.dispose()


TAG = """mutation($input: TagPartnerInput!) { tagPartner(input: $input) {
  organization { partner { code } partnerMappings { mappedBy unmappedAt partner { code } } } userErrors { code } } }"""


async def test_tag_partner_replaces_the_mapping_and_keeps_the_history(runtime: Any) -> None:
    world = await build_world(runtime)
    boss = world.tokens["org_super_admin"]
    data = (await run_query(runtime, TAG, {"input": {"organizationId": world.org_id("acme"), "partnerCode": "other1"}},
                            token=boss)).ok()["tagPartner"]
    assert data["userErrors"] == []
    assert data["organization"]["partner"]["code"] == "OTHER1"
    mappings = data["organization"]["partnerMappings"]
    assert [(m["mappedBy"], m["partner"]["code"], m["unmappedAt"] is None) for m in mappings] == [
        ("CUSTOMER", "OTHER1", True), ("PARTNER", "RESEL1", False)]
    # The new partner lists the customer; the old one no longer sees it, nor manages it.
    customers = "query($id: ID!) { partner(id: $id) { customers { nodes { domain } } } }"
    other = (await run_query(runtime, customers, {"id": world.partner_id("other")}, token=world.tokens["other_partner_admin"])).ok()
    assert [n["domain"] for n in other["partner"]["customers"]["nodes"]] == ["acme.example"]
    old = (await run_query(runtime, ORG, {"id": world.org_id("acme")}, token=world.tokens["reseller_admin"])).ok()
    assert old["organization"] is None
    for code, expected in (("NOPE", "UNKNOWN_PARTNER_CODE"), ("OTHER1", "ALREADY_MAPPED")):
        refused = (await run_query(runtime, TAG, {"input": {"organizationId": world.org_id("acme"), "partnerCode": code}},
                                   token=boss)).ok()
        assert refused["tagPartner"]["userErrors"] == [{"code": expected}]


async def test_mapping_never_grants_business_data(runtime: Any) -> None:
    world = await build_world(runtime)
    for role in ("reseller_analyst", "distributor_admin", "distributor_analyst"):
        result = await run_query(runtime, MEMBERS, {"id": world.org_id("acme")}, token=world.tokens[role])
        assert result.error_codes == ["FORBIDDEN"], role
    # The delegated admin and the organization's own members do see them.
    for role in ("reseller_admin", "org_member"):
        data = (await run_query(runtime, MEMBERS, {"id": world.org_id("acme")}, token=world.tokens[role])).ok()
        assert data["organization"]["members"]["totalCount"] == 3, role


async def test_distributor_reads_its_resellers_customers_but_cannot_change_them(runtime: Any) -> None:
    world = await build_world(runtime)
    token = world.tokens["distributor_admin"]
    query = """query($id: ID!) { partner(id: $id) { resellers { nodes { code customers { totalCount } } } } }"""
    data = (await run_query(runtime, query, {"id": world.partner_id("dist")}, token=token)).ok()
    assert data["partner"]["resellers"]["nodes"] == [{"code": "RESEL1", "customers": {"totalCount": 2}}]
    update = """mutation($input: UpdateOrganizationDetailsInput!) { updateOrganizationDetails(input: $input) { userErrors { code } } }"""
    refused = await run_query(runtime, update, {"input": {"organizationId": world.org_id("acme"), "name": "X"}}, token=token)
    assert refused.error_codes == ["FORBIDDEN"]


REVOKE = """mutation($input: OrganizationInput!) { revokePartnerAccess(input: $input) {
  organization { partnerAccess { status revokedAt revokedBy { email } } } userErrors { code } } }"""


async def test_revoked_access_leaves_the_managed_list_and_refuses_admin_operations(runtime: Any) -> None:
    world = await build_world(runtime)
    revoked = (await run_query(runtime, REVOKE, {"input": {"organizationId": world.org_id("acme")}},
                               token=world.tokens["org_super_admin"])).ok()["revokePartnerAccess"]
    access = revoked["organization"]["partnerAccess"]
    assert access["status"] == "REVOKED" and access["revokedAt"] and access["revokedBy"] == {"email": "boss@acme.example"}
    partner_token = world.tokens["reseller_admin"]
    managed = """query($id: ID!) { partner(id: $id) { managedOrganizations { nodes { domain } } } }"""
    data = (await run_query(runtime, managed, {"id": world.partner_id("reseller")}, token=partner_token)).ok()
    assert data["partner"]["managedOrganizations"]["nodes"] == []
    members = await run_query(runtime, MEMBERS, {"id": world.org_id("acme")}, token=partner_token)
    assert members.error_codes == ["FORBIDDEN"]
    add = """mutation($input: AddOrganizationMemberInput!) { addOrganizationMember(input: $input) { userErrors { code } } }"""
    refused = await run_query(runtime, add, {"input": {"organizationId": world.org_id("acme"), "email": "x@acme.example",
                                                       "role": "MEMBER"}}, token=partner_token)
    assert refused.error_codes == ["FORBIDDEN"]
    assert "revoked" in refused.errors[0]["message"]
    again = (await run_query(runtime, REVOKE, {"input": {"organizationId": world.org_id("acme")}},
                             token=world.tokens["org_super_admin"])).ok()
    assert again["revokePartnerAccess"]["userErrors"] == [{"code": "NO_ACTIVE_PARTNER_ACCESS"}]
    # The customer sees, in its audit log, what happened and how.
    audit = """query($id: ID!) { organization(id: $id) { auditEvents { nodes { action via actor { email } } } } }"""
    events = (await run_query(runtime, audit, {"id": world.org_id("acme")}, token=world.tokens["org_super_admin"])).ok()
    assert events["organization"]["auditEvents"]["nodes"][0] == {
        "action": "organization.revoke_partner_access", "via": "MEMBERSHIP", "actor": {"email": "boss@acme.example"}}


GRANT = """mutation($input: GrantPartnerAccessInput!) { grantPartnerAccess(input: $input) {
  organization { partnerAccess { status partner { code } } } userErrors { code } } }"""


async def test_grant_partner_access_again_after_revoking(runtime: Any) -> None:
    world = await build_world(runtime)
    boss = world.tokens["org_super_admin"]
    await run_query(runtime, REVOKE, {"input": {"organizationId": world.org_id("acme")}}, token=boss)
    variables = {"input": {"organizationId": world.org_id("acme"), "partnerId": world.partner_id("reseller")}}
    granted = (await run_query(runtime, GRANT, variables, token=boss)).ok()["grantPartnerAccess"]
    assert granted == {"organization": {"partnerAccess": {"status": "ACTIVE", "partner": {"code": "RESEL1"}}},
                       "userErrors": []}
    data = (await run_query(runtime, MEMBERS, {"id": world.org_id("acme")}, token=world.tokens["reseller_admin"])).ok()
    assert data["organization"]["members"]["totalCount"] == 3
    twice = (await run_query(runtime, GRANT, variables, token=boss)).ok()
    assert twice["grantPartnerAccess"]["userErrors"] == [{"code": "ALREADY_GRANTED"}]


async def test_partner_admin_actions_land_in_the_customer_audit_log(runtime: Any) -> None:
    world = await build_world(runtime)
    update = """mutation($input: UpdateOrganizationDetailsInput!) { updateOrganizationDetails(input: $input) {
      organization { name address { country } } userErrors { code } } }"""
    variables = {"input": {"organizationId": world.org_id("acme"), "name": "Acme Two", "address": {"country": "GB"}}}
    data = (await run_query(runtime, update, variables, token=world.tokens["reseller_admin"])).ok()
    assert data["updateOrganizationDetails"]["organization"] == {"name": "Acme Two", "address": {"country": "GB"}}
    audit = """query($id: ID!) { organization(id: $id) { auditEvents { nodes { action via partner { code } details } } } }"""
    events = (await run_query(runtime, audit, {"id": world.org_id("acme")}, token=world.tokens["org_admin"])).ok()
    event = events["organization"]["auditEvents"]["nodes"][0]
    assert event["action"] == "organization.update_details" and event["via"] == "PARTNER_ADMIN"
    assert event["partner"] == {"code": "RESEL1"} and event["details"]["name"] == "Acme Two"
    refused = await run_query(runtime, audit, {"id": world.org_id("acme")}, token=world.tokens["org_member"])
    assert refused.error_codes == ["FORBIDDEN"]


async def test_organization_lists_filter_and_paginate_within_what_the_viewer_sees(runtime: Any) -> None:
    world = await build_world(runtime)
    query = """query($after: String) { organizations(first: 1, after: $after, orderBy: {field: NAME, direction: ASC}) {
      totalCount pageInfo { hasNextPage endCursor } nodes { domain } } }"""
    token = world.tokens["platform_analyst"]
    seen, after = [], None
    while True:
        page = (await run_query(runtime, query, {"after": after}, token=token)).ok()["organizations"]
        assert page["totalCount"] == 3
        seen += [n["domain"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["acme.example", "direct.example", "unverified.example"]
    member = (await run_query(runtime, "{ organizations { nodes { domain } } }", token=world.tokens["org_member"])).ok()
    assert member["organizations"]["nodes"] == [{"domain": "acme.example"}]
    nobody = (await run_query(runtime, "{ organizations { totalCount } }", token=world.tokens["no_role"])).ok()
    assert nobody["organizations"]["totalCount"] == 0
    anonymous = await run_query(runtime, "{ organizations { totalCount } }")
    assert anonymous.error_codes == ["UNAUTHENTICATED"]
