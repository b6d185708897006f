"""Reading Organization.mail: who sees it, per organization inside one batch, and at a constant SQL cost."""

from __future__ import annotations

import pytest

from gateway.testing import run_query
from plugins.mail import service
from plugins.mail.testing import build_mail_world, revoke_delegated_access
from schema import models as core

MAIL = ("mail { tfaEnabled contactsSyncEnabled referralProgramJoined dashboard superAdmin { email role } "
        "users(first: 10) { totalCount edges { node { email role } } } aliases { address user { email } } "
        "policies { name rules } }")
ONE = "query($id: ID!) { organization(id: $id) { domain " + MAIL + " } }"

READERS = ["org_super_admin", "org_admin", "org_member", "reseller_admin", "platform_admin"]
REFUSED = ["reseller_analyst", "distributor_admin", "distributor_analyst", "platform_analyst"]


@pytest.mark.parametrize("role", READERS)
async def test_members_partner_admin_and_platform_admin_read_mail(runtime, role):
    mw = await build_mail_world(runtime)
    result = await run_query(runtime, ONE, {"id": mw.org_id("acme")}, token=mw.token(role))
    mail = result.ok()["organization"]["mail"]
    assert mail["superAdmin"] == {"email": "boss@acme.example", "role": "SUPER_ADMIN"}
    assert mail["users"]["totalCount"] == 3
    assert [e["node"]["email"] for e in mail["users"]["edges"]] == [
        "alice@acme.example", "bob@acme.example", "boss@acme.example"]
    assert mail["aliases"] == [{"address": "info@acme.example", "user": {"email": "boss@acme.example"}}]
    assert mail["policies"] == [{"name": "Block exe", "rules": [{"match": {"attachmentExtension": "exe"},
                                                                "action": "BLOCK"}]}]
    assert mail["tfaEnabled"] is False and mail["referralProgramJoined"] is False
    assert mail["dashboard"]["widgets"]


@pytest.mark.parametrize("role", REFUSED)
async def test_analysts_and_mapping_only_partners_are_refused_mail(runtime, role):
    mw = await build_mail_world(runtime)
    result = await run_query(runtime, ONE, {"id": mw.org_id("acme")}, token=mw.token(role))
    assert result.data["organization"]["domain"] == "acme.example"  # the organization itself is visible
    assert result.data["organization"]["mail"] is None
    assert result.error_codes == ["FORBIDDEN"]
    assert result.errors[0]["path"] == ["organization", "mail"]


async def test_other_partners_do_not_even_see_the_organization(runtime):
    mw = await build_mail_world(runtime)
    result = await run_query(runtime, ONE, {"id": mw.org_id("acme")}, token=mw.token("other_partner_admin"))
    assert result.ok() == {"organization": None}


async def test_refusals_are_per_organization_inside_one_list(runtime):
    mw = await build_mail_world(runtime)
    query = "{ organizations(first: 10) { nodes { domain mail { superAdmin { email } } } } }"
    result = await run_query(runtime, query, token=mw.token("reseller_admin"))
    nodes = {n["domain"]: n["mail"] for n in result.data["organizations"]["nodes"]}
    assert nodes == {"acme.example": {"superAdmin": {"email": "boss@acme.example"}},
                     "mapped.example": None, "unverified.example": None}
    messages = {tuple(e["path"]): (e["extensions"]["code"], e["message"]) for e in result.errors}
    assert len(messages) == 2 and {code for code, _ in messages.values()} == {"FORBIDDEN"}
    assert any("unverified.example is not verified" in message for _, message in messages.values())


async def test_after_revoke_the_partner_admin_is_refused_with_the_reason(runtime):
    mw = await build_mail_world(runtime)
    await revoke_delegated_access(runtime, mw)
    result = await run_query(runtime, ONE, {"id": mw.org_id("acme")}, token=mw.token("reseller_admin"))
    assert result.data["organization"]["mail"] is None
    assert result.error_codes == ["FORBIDDEN"]
    assert "revoked your partner's delegated admin access" in result.errors[0]["message"]


async def test_mail_is_null_without_a_mail_setup(runtime):
    mw = await build_mail_world(runtime)
    result = await run_query(runtime, ONE, {"id": mw.org_id("direct")}, token=mw.token("direct_super_admin"))
    assert result.ok()["organization"] == {"domain": "direct.example", "mail": None}


async def test_anonymous_is_asked_to_sign_in(runtime):
    mw = await build_mail_world(runtime)
    result = await run_query(runtime, ONE, {"id": mw.org_id("acme")})
    assert result.error_codes == ["UNAUTHENTICATED"]


async def test_mail_nodes_follow_the_mail_read_rule(runtime):
    mw = await build_mail_world(runtime)
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on MailUser { email } ... on MailAlias { address } } }"
    async with runtime.sessions() as session:
        from sqlalchemy import select

        from plugins.mail import models
        alias_id = await session.scalar(select(models.MailAlias.id))
    from gateway.relay import encode_id
    ids = [mw.user_id("acme", "bob"), encode_id("MailAlias", alias_id), mw.user_id("mapped", "admin")]
    seen = (await run_query(runtime, query, {"ids": ids}, token=mw.token("reseller_admin"))).ok()["nodes"]
    assert [n and (n.get("email") or n.get("address")) for n in seen] == ["bob@acme.example", "info@acme.example", None]
    hidden = (await run_query(runtime, query, {"ids": ids}, token=mw.token("reseller_analyst"))).ok()["nodes"]
    assert hidden == [None, None, None]


async def _add_organizations(runtime, count: int) -> None:
    async with runtime.sessions() as session, session.begin():
        for i in range(count):
            org = core.Organization(name=f"Org {i:03}", domain=f"org{i:03}.example", domain_verified=True,
                                    domain_verification_code="x", status="ACTIVE")
            session.add(org)
            await session.flush()
            await service.set_up_mail(session, org.id, super_admin_email=f"boss@org{i:03}.example", super_admin_name="B")
            setup = await service.load_setup(session, org.id)
            user = await service.add_user(session, setup, email=f"a@org{i:03}.example", name="A")
            await service.create_alias(session, setup, user.id, f"hello@org{i:03}.example")
            await service.create_policy(session, setup, name="P", rules=[{"match": {"to": "x"}, "action": "TAG"}],
                                        created_by=None)


async def test_listing_100_organizations_costs_the_same_statements_as_10(runtime, mw, client, count_sql):
    await _add_organizations(runtime, 100)
    query = ("query($n: Int!) { organizations(first: $n) { nodes { domain mail { users(first: 20) { edges { node "
             "{ email } } } aliases { address } policies { name } superAdmin { email } } } } }")
    counts = {}
    for n in (10, 100):
        with count_sql() as counter:
            result = await client.query(query, {"n": n}, role="platform_admin")
        nodes = result.ok()["organizations"]["nodes"]
        assert len(nodes) == n
        with_mail = [node for node in nodes if node["mail"]]
        assert len(with_mail) >= n - 4  # acme, direct, mapped, unverified sort among them
        assert all(node["mail"]["superAdmin"]["email"].startswith(("boss@", "admin@")) for node in with_mail)
        counts[n] = counter.count
    assert counts[10] == counts[100], counts
