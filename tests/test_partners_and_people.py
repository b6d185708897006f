"""Partners, resellers, members and API tokens."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import Unauthenticated
from gateway.relay import encode_id
from gateway.testing import run_query
from schema.testing import build_world

CREATE_PARTNER = """mutation($input: CreatePartnerInput!) { createPartner(input: $input) {
  partner { name code kind status parent { code } address { city country } } userErrors { code field } } }"""
CREATE_RESELLER = """mutation($input: CreateResellerInput!) { createReseller(input: $input) {
  partner { id code kind status parent { code } } userErrors { code field } } }"""


async def test_platform_admin_creates_partners_with_unique_codes(runtime: Any) -> None:
    world = await build_world(runtime)
    token = world.tokens["platform_admin"]
    created = (await run_query(runtime, CREATE_PARTNER, {"input": {
        "name": "Consult Co", "kind": "CONSULTING", "code": "cons-1", "address": {"city": "Oslo", "country": "no"}}},
        token=token)).ok()["createPartner"]
    assert created == {"partner": {"name": "Consult Co", "code": "CONS-1", "kind": "CONSULTING", "status": "ACTIVE",
                                   "parent": None, "address": {"city": "Oslo", "country": "NO"}}, "userErrors": []}
    generated = (await run_query(runtime, CREATE_PARTNER, {"input": {"name": "Gen Partner", "kind": "DEVELOPER"}},
                                 token=token)).ok()["createPartner"]["partner"]
    assert generated["code"].startswith("GENPARTNER") and len(generated["code"]) == 14
    for variables, code in [
        ({"name": "Dup", "kind": "CONSULTING", "code": "CONS-1"}, "PARTNER_CODE_TAKEN"),
        ({"name": "Bad", "kind": "CONSULTING", "code": "a b"}, "INVALID_PARTNER_CODE"),
        ({"name": "Orphan", "kind": "RESELLER"}, "RESELLER_NEEDS_DISTRIBUTOR"),
        ({"name": "Under dev", "kind": "RESELLER", "parentPartnerId": world.partner_id("devco")}, "PARENT_NOT_DISTRIBUTOR"),
    ]:
        refused = (await run_query(runtime, CREATE_PARTNER, {"input": variables}, token=token)).ok()["createPartner"]
        assert refused["partner"] is None and refused["userErrors"][0]["code"] == code, variables


async def test_distributor_creates_disables_and_enables_a_reseller(runtime: Any) -> None:
    world = await build_world(runtime)
    token = world.tokens["distributor_admin"]
    created = (await run_query(runtime, CREATE_RESELLER, {"input": {
        "parentPartnerId": world.partner_id("dist"), "name": "Shop Two", "code": "SHOP2"}}, token=token)).ok()
    reseller = created["createReseller"]["partner"]
    assert reseller["kind"] == "RESELLER" and reseller["parent"] == {"code": "DIST1"}
    listing = """query($id: ID!) { partner(id: $id) { resellers { totalCount nodes { code status } } } }"""
    data = (await run_query(runtime, listing, {"id": world.partner_id("dist")}, token=token)).ok()
    assert data["partner"]["resellers"]["nodes"] == [
        {"code": "RESEL1", "status": "ACTIVE"}, {"code": "SHOP2", "status": "ACTIVE"}]
    toggle = """mutation($input: ResellerInput!) { %s(input: $input) { partner { status } userErrors { code } } }"""
    variables = {"input": {"partnerId": world.partner_id("reseller")}}
    disabled = (await run_query(runtime, toggle % "disableReseller", variables, token=token)).ok()["disableReseller"]
    assert disabled == {"partner": {"status": "DISABLED"}, "userErrors": []}
    again = (await run_query(runtime, toggle % "disableReseller", variables, token=token)).ok()["disableReseller"]
    assert again["userErrors"] == [{"code": "ALREADY_DISABLED"}]
    # The disabled reseller can still be read but can change nothing.
    update = """mutation($input: UpdateOrganizationDetailsInput!) { updateOrganizationDetails(input: $input) {
      userErrors { code message } } }"""
    refused = (await run_query(runtime, update, {"input": {"organizationId": world.org_id("acme"), "name": "X"}},
                               token=world.tokens["reseller_admin"])).ok()["updateOrganizationDetails"]["userErrors"]
    assert refused[0]["code"] == "RESELLER_DISABLED" and "disabled" in refused[0]["message"]
    enabled = (await run_query(runtime, toggle % "enableReseller", variables, token=token)).ok()["enableReseller"]
    assert enabled == {"partner": {"status": "ACTIVE"}, "userErrors": []}
    works = (await run_query(runtime, update, {"input": {"organizationId": world.org_id("acme"), "name": "X"}},
                             token=world.tokens["reseller_admin"])).ok()["updateOrganizationDetails"]["userErrors"]
    assert works == []
    not_reseller = (await run_query(runtime, toggle % "disableReseller", {"input": {"partnerId": world.partner_id("dist")}},
                                    token=world.tokens["platform_admin"])).ok()["disableReseller"]
    assert not_reseller["userErrors"] == [{"code": "NOT_A_RESELLER"}]


async def test_removed_member_loses_access_at_once(runtime: Any) -> None:
    world = await build_world(runtime)
    analyst = world.tokens["reseller_analyst"]
    before = (await run_query(runtime, "{ organizations { totalCount } }", token=analyst)).ok()
    assert before["organizations"]["totalCount"] == 2
    remove = """mutation($input: RemovePartnerMemberInput!) { removePartnerMember(input: $input) {
      member { role user { email } } userErrors { code } } }"""
    variables = {"input": {"partnerId": world.partner_id("reseller"),
                           "userId": encode_id("User", world.user_ids["reseller_analyst"])}}
    removed = (await run_query(runtime, remove, variables, token=world.tokens["reseller_admin"])).ok()
    assert removed["removePartnerMember"]["member"] == {"role": "PARTNER_ANALYST", "user": {"email": "analyst@resell.example"}}
    after = (await run_query(runtime, "{ organizations { totalCount } }", token=analyst)).ok()
    assert after["organizations"]["totalCount"] == 0
    last_admin = {"input": {"partnerId": world.partner_id("reseller"),
                            "userId": encode_id("User", world.user_ids["reseller_admin"])}}
    refused = (await run_query(runtime, remove, last_admin, token=world.tokens["reseller_admin"])).ok()
    assert refused["removePartnerMember"]["userErrors"] == [{"code": "LAST_PARTNER_ADMIN"}]


async def test_add_members_creates_users_and_refuses_duplicates(runtime: Any) -> None:
    world = await build_world(runtime)
    add_org = """mutation($input: AddOrganizationMemberInput!) { addOrganizationMember(input: $input) {
      member { role user { email name } } userErrors { code field } } }"""
    variables = {"input": {"organizationId": world.org_id("acme"), "email": "Zed@Acme.example", "name": "Zed",
                           "role": "ADMIN"}}
    # An organization admin may give the admin role (a delegated partner admin may not: test_delegation_revocation).
    added = (await run_query(runtime, add_org, variables, token=world.tokens["org_admin"])).ok()
    assert added["addOrganizationMember"]["member"] == {"role": "ADMIN", "user": {"email": "zed@acme.example", "name": "Zed"}}
    dup = (await run_query(runtime, add_org, variables, token=world.tokens["org_admin"])).ok()
    assert dup["addOrganizationMember"]["userErrors"] == [{"code": "ALREADY_MEMBER", "field": ["email"]}]
    second_boss = {"input": {**variables["input"], "email": "other@acme.example", "role": "SUPER_ADMIN"}}
    refused = (await run_query(runtime, add_org, second_boss, token=world.tokens["org_super_admin"])).ok()
    assert refused["addOrganizationMember"]["userErrors"] == [{"code": "SUPER_ADMIN_EXISTS", "field": ["role"]}]
    add_partner = """mutation($input: AddPartnerMemberInput!) { addPartnerMember(input: $input) {
      member { role partner { code } user { email } } userErrors { code } } }"""
    partner_vars = {"input": {"partnerId": world.partner_id("reseller"), "email": "new@resell.example", "role": "DEVELOPER"}}
    member = (await run_query(runtime, add_partner, partner_vars, token=world.tokens["distributor_admin"])).ok()
    assert member["addPartnerMember"]["member"] == {"role": "DEVELOPER", "partner": {"code": "RESEL1"},
                                                    "user": {"email": "new@resell.example"}}
    members = """query($id: ID!) { partner(id: $id) { members { role user { email } } } }"""
    listed = (await run_query(runtime, members, {"id": world.partner_id("reseller")}, token=world.tokens["reseller_admin"])).ok()
    assert {m["user"]["email"] for m in listed["partner"]["members"]} == {
        "admin@resell.example", "analyst@resell.example", "new@resell.example"}


async def test_api_token_is_shown_once_works_and_stops_when_revoked(runtime: Any) -> None:
    world = await build_world(runtime)
    create = """mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) {
      token apiToken { id name prefix expiresAt revokedAt } userErrors { code } } }"""
    created = (await run_query(runtime, create, {"input": {"name": "ci"}}, token=world.tokens["org_admin"])).ok()
    token = created["createApiToken"]["token"]
    api_token = created["createApiToken"]["apiToken"]
    assert token.startswith("pgw_") and token.startswith(api_token["prefix"]) and api_token["revokedAt"] is None
    me = (await run_query(runtime, "{ viewer { user { email } apiTokens { name prefix } } }", token=token)).ok()
    assert me["viewer"]["user"]["email"] == "admin@acme.example"
    assert "ci" in [t["name"] for t in me["viewer"]["apiTokens"]]
    assert all("token" not in t for t in me["viewer"]["apiTokens"])
    revoke = """mutation($input: RevokeApiTokenInput!) { revokeApiToken(input: $input) { apiToken { revokedAt } userErrors { code } } }"""
    other = (await run_query(runtime, revoke, {"input": {"tokenId": api_token["id"]}}, token=world.tokens["org_member"])).ok()
    assert other["revokeApiToken"]["userErrors"] == [{"code": "UNKNOWN_TOKEN"}]
    revoked = (await run_query(runtime, revoke, {"input": {"tokenId": api_token["id"]}}, token=world.tokens["org_admin"])).ok()
    assert revoked["revokeApiToken"]["apiToken"]["revokedAt"]
    with pytest.raises(Unauthenticated, match="revoked"):
        await run_query(runtime, "{ viewer { user { email } } }", token=token)
    past = (await run_query(runtime, create, {"input": {"name": "old", "expiresAt": "2001-01-01T00:00:00Z"}},
                            token=world.tokens["org_admin"])).ok()
    assert past["createApiToken"]["userErrors"] == [{"code": "EXPIRY_IN_PAST"}] and past["createApiToken"]["token"] is None


async def test_node_finds_tokens_and_audit_events_only_for_those_who_may_see_them(runtime: Any) -> None:
    world = await build_world(runtime)
    create = """mutation { createApiToken(input: {name: "mine"}) { apiToken { id } } }"""
    token_id = (await run_query(runtime, create, token=world.tokens["org_admin"])).ok()["createApiToken"]["apiToken"]["id"]
    update = """mutation($input: UpdateOrganizationDetailsInput!) { updateOrganizationDetails(input: $input) { userErrors { code } } }"""
    await run_query(runtime, update, {"input": {"organizationId": world.org_id("acme"), "name": "Acme 2"}},
                    token=world.tokens["reseller_admin"])
    events = """query($id: ID!) { organization(id: $id) { auditEvents(first: 1) { nodes { id } } } }"""
    event_id = (await run_query(runtime, events, {"id": world.org_id("acme")}, token=world.tokens["org_super_admin"])
                ).ok()["organization"]["auditEvents"]["nodes"][0]["id"]
    node = """query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"""
    for role, expected in [("org_admin", [True, True]), ("org_super_admin", [False, True]), ("org_member", [False, False]),
                           ("reseller_admin", [False, True]), ("other_partner_admin", [False, False]),
                           ("platform_admin", [True, True])]:
        found = (await run_query(runtime, node, {"ids": [token_id, event_id]}, token=world.tokens[role])).ok()["nodes"]
        assert [n is not None for n in found] == expected, role
