"""The product rules seen through GraphQL: payloads, user errors with fields, audit events."""

from __future__ import annotations

from sqlalchemy import select

from gateway.testing import run_query
from plugins.mail import models
from plugins.mail.service import hash_reset_token
from plugins.mail.testing import build_mail_world
from schema.models import AuditEvent

MAIL = "query($id: ID!) { organization(id: $id) { mail { superAdmin { email } users(first: 50) { edges { node { email role lastBackupAt } } } aliases { address } } } }"


def mutation(name: str, selection: str) -> str:
    return (f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ {name}(input: $input) "
            f"{{ {selection} userErrors {{ code message field }} }} }}")


async def _audit(runtime, action: str) -> list[AuditEvent]:
    async with runtime.sessions() as session:
        return list((await session.scalars(select(AuditEvent).where(AuditEvent.action == action))).all())


async def test_reset_link_goes_only_to_the_super_admin_who_asked(runtime):
    mw = await build_mail_world(runtime)
    variables = {"input": {"organizationId": mw.org_id("acme"), "userId": mw.user_id("acme", "bob")}}
    document = mutation("resetMailUserPassword", "user { email } resetLink")
    data = (await run_query(runtime, document, variables, token=mw.token("org_super_admin"))).ok()
    link = data["resetMailUserPassword"]["resetLink"]
    token = link.split("token=", 1)[1]
    assert data["resetMailUserPassword"]["user"] == {"email": "bob@acme.example"}
    async with runtime.sessions() as session:
        stored = (await session.scalars(select(models.MailPasswordReset))).all()
    assert [(row.token_hash, row.requested_by_user_id) for row in stored] == [
        (hash_reset_token(token), mw.world.user_ids["org_super_admin"])]
    events = await _audit(runtime, "mail.reset_password")
    assert len(events) == 1 and token not in repr(events[0].details) and events[0].details == {"email": "bob@acme.example"}
    refused = (await run_query(runtime, document, variables, token=mw.token("reseller_admin"))).ok()
    assert refused["resetMailUserPassword"]["resetLink"] is None
    assert refused["resetMailUserPassword"]["userErrors"][0]["code"] == "PARTNER_ADMIN_RESTRICTED"
    assert "reset a mail user's password" in refused["resetMailUserPassword"]["userErrors"][0]["message"]


async def test_changing_the_super_admin_demotes_the_old_one(runtime):
    mw = await build_mail_world(runtime)
    variables = {"input": {"organizationId": mw.org_id("acme"), "userId": mw.user_id("acme", "alice")}}
    data = (await run_query(runtime, mutation("changeMailSuperAdmin", "mail { superAdmin { email } }"), variables,
                            token=mw.token("org_super_admin"))).ok()
    assert data["changeMailSuperAdmin"]["mail"]["superAdmin"] == {"email": "alice@acme.example"}
    mail = (await run_query(runtime, MAIL, {"id": mw.org_id("acme")}, token=mw.token("org_member"))).ok()
    roles = {e["node"]["email"]: e["node"]["role"] for e in mail["organization"]["mail"]["users"]["edges"]}
    assert roles == {"alice@acme.example": "SUPER_ADMIN", "boss@acme.example": "ADMIN", "bob@acme.example": "MEMBER"}
    [event] = await _audit(runtime, "mail.change_super_admin")
    assert (event.via, event.details) == ("MEMBERSHIP", {"superAdmin": "alice@acme.example",
                                                         "previousSuperAdmin": "boss@acme.example"})


async def test_the_super_admin_cannot_be_deleted_or_demoted(runtime):
    mw = await build_mail_world(runtime)
    boss = {"organizationId": mw.org_id("acme"), "userId": mw.user_id("acme", "boss")}
    for name, extra, selection in [("deleteMailUser", {}, "deletedUserId"),
                                   ("changeMailUserRole", {"role": "MEMBER"}, "user { role }")]:
        data = (await run_query(runtime, mutation(name, selection), {"input": {**boss, **extra}},
                                token=mw.token("org_super_admin"))).ok()
        assert data[name]["userErrors"] == [{"code": "SUPER_ADMIN_PROTECTED", "field": ["userId"],
                                             "message": data[name]["userErrors"][0]["message"]}]
    assert await _audit(runtime, "mail.delete_user") == []


async def test_a_deleted_users_aliases_go_with_it(runtime):
    mw = await build_mail_world(runtime)
    acme, bob = mw.org_id("acme"), mw.user_id("acme", "bob")
    for alias in ("robert@acme.example", "bobby@acme.example"):
        data = (await run_query(runtime, mutation("createMailAlias", "alias { address user { email } }"),
                                {"input": {"organizationId": acme, "userId": bob, "alias": alias}},
                                token=mw.token("reseller_admin"))).ok()
        assert data["createMailAlias"]["alias"] == {"address": alias, "user": {"email": "bob@acme.example"}}
    data = (await run_query(runtime, mutation("deleteMailUser", "deletedUserId"),
                            {"input": {"organizationId": acme, "userId": bob}}, token=mw.token("org_super_admin"))).ok()
    assert data["deleteMailUser"] == {"deletedUserId": bob, "userErrors": []}
    mail = (await run_query(runtime, MAIL, {"id": acme}, token=mw.token("org_super_admin"))).ok()["organization"]["mail"]
    assert mail["aliases"] == [{"address": "info@acme.example"}]
    assert "bob@acme.example" not in {e["node"]["email"] for e in mail["users"]["edges"]}
    [event] = await _audit(runtime, "mail.delete_user")
    assert event.details["aliasesRemoved"] == ["bobby@acme.example", "robert@acme.example"]
    again = (await run_query(runtime, mutation("deleteMailUser", "deletedUserId"),
                             {"input": {"organizationId": acme, "userId": bob}}, token=mw.token("org_super_admin"))).ok()
    assert again["deleteMailUser"]["userErrors"][0]["code"] == "MAIL_USER_NOT_FOUND"


async def test_backup_sets_last_backup_at_and_writes_a_record(runtime):
    mw = await build_mail_world(runtime)
    data = (await run_query(runtime, mutation("backupMailUserAccount", "user { email lastBackupAt }"),
                            {"input": {"organizationId": mw.org_id("acme"), "userId": mw.user_id("acme", "bob")}},
                            token=mw.token("org_super_admin"))).ok()
    assert data["backupMailUserAccount"]["user"]["lastBackupAt"] is not None
    async with runtime.sessions() as session:
        [backup] = (await session.scalars(select(models.MailBackup))).all()
    assert (backup.user_email, backup.created_by_user_id, backup.via) == (
        "bob@acme.example", mw.world.user_ids["org_super_admin"], "MEMBERSHIP")
    [event] = await _audit(runtime, "mail.backup_account")
    assert event.details["backupId"] == backup.id


async def test_user_errors_point_at_the_input(runtime):
    mw = await build_mail_world(runtime)
    acme = mw.org_id("acme")
    token = mw.token("org_super_admin")
    cases: list[tuple[str, dict[str, object], str, str, list[str]]] = [
        ("editMailDashboard", {"dashboard": {"widgets": [{"type": "CLOCK", "row": 0, "column": 0}]}}, "mail { dashboard }",
         "INVALID_DASHBOARD", ["dashboard", "widgets", "0", "type"]),
        ("setMailUserProfileImage", {"userId": mw.user_id("acme", "bob"), "imageUrl": "http://x.example/a.png"},
         "user { profileImageUrl }", "INVALID_IMAGE_URL", ["imageUrl"]),
        ("createMailAlias", {"userId": mw.user_id("acme", "bob"), "alias": "bob@elsewhere.example"},
         "alias { address }", "ADDRESS_OUTSIDE_DOMAIN", ["alias"]),
        ("createMailAlias", {"userId": mw.user_id("mapped", "admin"), "alias": "x@acme.example"},
         "alias { address }", "MAIL_USER_NOT_FOUND", ["userId"]),
        ("createMailPolicy", {"name": "P", "rules": {"no": "list"}}, "policy { name }", "INVALID_POLICY_RULES", ["rules"]),
        ("addMailUser", {"email": "alice@acme.example", "name": "Again"}, "user { email }", "ADDRESS_TAKEN", ["email"]),
    ]
    for name, fields, selection, code, field in cases:
        data = (await run_query(runtime, mutation(name, selection), {"input": {"organizationId": acme, **fields}},
                                token=token)).ok()
        assert [(e["code"], e["field"]) for e in data[name]["userErrors"]] == [(code, field)], name
        assert all(value is None for key, value in data[name].items() if key != "userErrors")
    no_mail = (await run_query(runtime, mutation("setMailContactsSync", "mail { contactsSyncEnabled }"),
                               {"input": {"organizationId": mw.org_id("direct"), "enabled": True}},
                               token=mw.token("direct_super_admin"))).ok()
    assert no_mail["setMailContactsSync"]["userErrors"][0]["code"] == "MAIL_NOT_SET_UP"


async def test_bad_ids_are_top_level_errors(runtime):
    mw = await build_mail_world(runtime)
    document = mutation("setMailOrganizationTfa", "mail { tfaEnabled }")
    wrong_type = await run_query(runtime, document, {"input": {"organizationId": mw.user_id("acme", "bob"),
                                                                "enabled": True}}, token=mw.token("org_super_admin"))
    assert wrong_type.error_codes == ["BAD_USER_INPUT"]
    from gateway.relay import encode_id
    missing = await run_query(runtime, document, {"input": {"organizationId": encode_id("Organization", 999_999),
                                                             "enabled": True}}, token=mw.token("org_super_admin"))
    assert missing.error_codes == ["NOT_FOUND"]


async def test_settings_mutations_change_what_is_read(runtime):
    mw = await build_mail_world(runtime)
    acme = mw.org_id("acme")
    token = mw.token("org_super_admin")
    changes: list[tuple[str, dict[str, object]]] = [
        ("setMailOrganizationTfa", {"enabled": True}), ("setMailContactsSync", {"enabled": True}),
        ("joinMailReferralProgram", {}),
        ("editMailDashboard", {"dashboard": {"widgets": [{"type": "POLICIES", "row": 3, "column": 2}]}})]
    for name, fields in changes:
        (await run_query(runtime, mutation(name, "mail { tfaEnabled }"), {"input": {"organizationId": acme, **fields}},
                         token=token)).ok()
    query = ("query($id: ID!) { organization(id: $id) { mail { tfaEnabled contactsSyncEnabled referralProgramJoined "
             "referralProgramJoinedAt dashboard } } }")
    mail = (await run_query(runtime, query, {"id": acme}, token=token)).ok()["organization"]["mail"]
    assert mail["tfaEnabled"] and mail["contactsSyncEnabled"] and mail["referralProgramJoined"]
    assert mail["referralProgramJoinedAt"] is not None
    assert mail["dashboard"] == {"widgets": [{"type": "POLICIES", "row": 3, "column": 2}]}


async def test_concurrent_super_admin_changes_leave_exactly_one_super_admin(runtime, backend):
    import asyncio

    import pytest

    if backend == "sqlite":
        pytest.skip("the in-memory test database has one shared connection; PostgreSQL shows the row lock")
    mw = await build_mail_world(runtime)
    document = mutation("changeMailSuperAdmin", "mail { superAdmin { email } }")
    results = await asyncio.gather(*(
        run_query(runtime, document, {"input": {"organizationId": mw.org_id("acme"), "userId": mw.user_id("acme", who)}},
                  token=mw.token("org_super_admin"))
        for who in ("alice", "bob")))
    for result in results:
        assert result.ok()["changeMailSuperAdmin"]["userErrors"] == []
    async with runtime.sessions() as session:
        roles = dict((await session.execute(select(models.MailUser.email, models.MailUser.role).where(
            models.MailUser.organization_id == mw.world.organizations["acme"]))).all())
    assert sorted(roles.values()) == ["ADMIN", "ADMIN", "SUPER_ADMIN"]
    assert roles["boss@acme.example"] == "ADMIN"


async def test_a_disabled_resellers_admin_can_change_nothing(runtime):
    from sqlalchemy import update

    from schema import models as core

    mw = await build_mail_world(runtime)
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(core.Partner).where(core.Partner.id == mw.world.partners["reseller"])
                              .values(status="DISABLED"))
    data = (await run_query(runtime, mutation("addMailUser", "user { email }"),
                            {"input": {"organizationId": mw.org_id("acme"), "email": "new@acme.example", "name": "N"}},
                            token=mw.token("reseller_admin"))).ok()
    assert [e["code"] for e in data["addMailUser"]["userErrors"]] == ["RESELLER_DISABLED"]
    assert await _audit(runtime, "mail.add_user") == []
