"""The mail rules at the service level (no GraphQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import DomainError
from plugins.mail import models, service
from plugins.mail.testing import build_mail_world


async def _count(session: AsyncSession, model: type, *where: ColumnElement[bool]) -> int:
    return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def test_change_super_admin_demotes_the_previous_one(runtime):
    mw = await build_mail_world(runtime)
    acme = mw.world.organizations["acme"]
    async with runtime.sessions() as session, session.begin():
        setup = await service.load_setup(session, acme)
        new, old = await service.change_super_admin(session, setup, mw.users["acme"]["bob"])
        assert old is not None
        assert (new.email, new.role) == ("bob@acme.example", "SUPER_ADMIN")
        assert (old.email, old.role) == ("boss@acme.example", "ADMIN")
        assert await _count(session, models.MailUser, models.MailUser.organization_id == acme,
                            models.MailUser.role == "SUPER_ADMIN") == 1
        with pytest.raises(DomainError) as error:
            await service.change_super_admin(session, setup, mw.users["acme"]["bob"])
        assert error.value.code == "ALREADY_SUPER_ADMIN"


async def test_the_database_refuses_a_second_super_admin(runtime):
    mw = await build_mail_world(runtime)
    async with runtime.sessions() as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                bob = await session.get(models.MailUser, mw.users["acme"]["bob"])
                bob.role = "SUPER_ADMIN"
                await session.flush()


async def test_super_admin_cannot_be_deleted_demoted_or_added(runtime):
    mw = await build_mail_world(runtime)
    async with runtime.sessions() as session, session.begin():
        setup = await service.load_setup(session, mw.world.organizations["acme"])
        boss = mw.users["acme"]["boss"]
        for call in (service.delete_user(session, setup, boss),
                     service.change_user_role(session, setup, boss, "MEMBER")):
            with pytest.raises(DomainError) as error:
                await call
            assert error.value.code == "SUPER_ADMIN_PROTECTED"
        with pytest.raises(DomainError) as error:
            await service.add_user(session, setup, email="new@acme.example", name="New", role="SUPER_ADMIN")
        assert error.value.code == "ONE_SUPER_ADMIN"
        with pytest.raises(DomainError) as error:
            await service.change_user_role(session, setup, mw.users["acme"]["bob"], "SUPER_ADMIN")
        assert error.value.code == "ONE_SUPER_ADMIN"
        assert (await session.get(models.MailUser, boss)).role == "SUPER_ADMIN"


async def test_deleting_a_user_removes_its_aliases_and_reset_tokens_but_keeps_backups(runtime):
    mw = await build_mail_world(runtime)
    bob = mw.users["acme"]["bob"]
    async with runtime.sessions() as session, session.begin():
        setup = await service.load_setup(session, mw.world.organizations["acme"])
        await service.create_alias(session, setup, bob, "robert@acme.example")
        await service.create_alias(session, setup, bob, "b@acme.example")
        await service.reset_password(session, setup, bob, requested_by=None)
        _, backup = await service.backup_account(session, setup, bob, requested_by=None, via="MEMBERSHIP")
        user, removed = await service.delete_user(session, setup, bob)
        assert user.email == "bob@acme.example"
        assert removed == ["b@acme.example", "robert@acme.example"]
        assert await _count(session, models.MailAlias, models.MailAlias.user_id == bob) == 0
        assert await _count(session, models.MailPasswordReset, models.MailPasswordReset.user_id == bob) == 0
        assert await session.get(models.MailUser, bob) is None
        assert await _count(session, models.MailAlias) == 1  # info@ of the super admin stays
        kept = await session.get(models.MailBackup, backup.id)
        assert (kept.user_id, kept.user_email) == (None, "bob@acme.example")


async def test_reset_link_is_one_time_and_only_its_hash_is_stored(runtime):
    mw = await build_mail_world(runtime)
    bob = mw.users["acme"]["bob"]
    async with runtime.sessions() as session, session.begin():
        setup = await service.load_setup(session, mw.world.organizations["acme"])
        _, first_link = await service.reset_password(session, setup, bob, requested_by=mw.world.user_ids["org_super_admin"])
        _, link = await service.reset_password(session, setup, bob, requested_by=mw.world.user_ids["org_super_admin"])
        assert link.startswith(service.RESET_LINK_BASE + "?token=")
        token = link.split("token=", 1)[1]
        stored = (await session.scalars(select(models.MailPasswordReset).where(
            models.MailPasswordReset.user_id == bob, models.MailPasswordReset.used_at.is_(None)))).all()
        assert [row.token_hash for row in stored] == [service.hash_reset_token(token)]
        assert token not in stored[0].token_hash
        assert dt.timedelta(hours=23) < stored[0].expires_at - stored[0].created_at <= service.RESET_TOKEN_LIFETIME
        with pytest.raises(DomainError) as error:  # a newer link replaced the first one
            await service.redeem_reset_token(session, first_link.split("token=", 1)[1])
        assert error.value.code == "RESET_LINK_INVALID"
        assert (await service.redeem_reset_token(session, token)).id == bob
        with pytest.raises(DomainError):
            await service.redeem_reset_token(session, token)


async def test_an_expired_reset_link_is_refused(runtime):
    mw = await build_mail_world(runtime)
    async with runtime.sessions() as session, session.begin():
        setup = await service.load_setup(session, mw.world.organizations["acme"])
        _, link = await service.reset_password(session, setup, mw.users["acme"]["bob"], requested_by=None)
        row = await session.scalar(select(models.MailPasswordReset).where(models.MailPasswordReset.used_at.is_(None)))
        row.expires_at = row.created_at - dt.timedelta(seconds=1)
        await session.flush()
        with pytest.raises(DomainError) as error:
            await service.redeem_reset_token(session, link.split("token=", 1)[1])
        assert error.value.code == "RESET_LINK_INVALID"


async def test_backup_records_what_when_and_who(runtime):
    mw = await build_mail_world(runtime)
    boss = mw.users["acme"]["boss"]
    actor = mw.world.user_ids["org_super_admin"]
    async with runtime.sessions() as session, session.begin():
        setup = await service.load_setup(session, mw.world.organizations["acme"])
        user, backup = await service.backup_account(session, setup, boss, requested_by=actor, via="MEMBERSHIP")
        assert user.last_backup_at == backup.created_at is not None
        assert (backup.user_email, backup.created_by_user_id, backup.via) == ("boss@acme.example", actor, "MEMBERSHIP")
        assert backup.contents["scope"] == list(service.BACKUP_SCOPE)
        assert backup.contents["aliases"] == ["info@acme.example"]


async def test_addresses_are_unique_and_inside_the_domain(runtime):
    mw = await build_mail_world(runtime)
    bob = mw.users["acme"]["bob"]
    async with runtime.sessions() as session, session.begin():
        setup = await service.load_setup(session, mw.world.organizations["acme"])
        cases = [
            (service.create_alias(session, setup, bob, "info@acme.example"), "ADDRESS_TAKEN"),
            (service.create_alias(session, setup, bob, "Alice@ACME.example"), "ADDRESS_TAKEN"),  # a user's address
            (service.create_alias(session, setup, bob, "bob@other.example"), "ADDRESS_OUTSIDE_DOMAIN"),
            (service.create_alias(session, setup, bob, "not an address"), "INVALID_ADDRESS"),
            (service.create_alias(session, setup, 999_999, "x@acme.example"), "MAIL_USER_NOT_FOUND"),
            (service.create_alias(session, setup, mw.users["mapped"]["admin"], "y@acme.example"), "MAIL_USER_NOT_FOUND"),
            (service.add_user(session, setup, email="info@acme.example", name="Info"), "ADDRESS_TAKEN"),
            (service.add_user(session, setup, email="x@elsewhere.example", name="X"), "ADDRESS_OUTSIDE_DOMAIN"),
            (service.add_user(session, setup, email="ok@acme.example", name="  "), "INVALID_NAME"),
        ]
        for call, code in cases:
            with pytest.raises(DomainError) as error:
                await call
            assert error.value.code == code
        alias = await service.create_alias(session, setup, bob, " Sales@Acme.Example ")
        assert alias.address == "sales@acme.example"


async def test_aliases_need_a_verified_domain(runtime):
    mw = await build_mail_world(runtime)
    async with runtime.sessions() as session, session.begin():
        setup = await service.load_setup(session, mw.world.organizations["unverified"])
        with pytest.raises(DomainError) as error:
            await service.create_alias(session, setup, mw.users["unverified"]["boss"], "info@unverified.example")
        assert error.value.code == "DOMAIN_NOT_VERIFIED"


@pytest.mark.parametrize("dashboard, path", [
    ([], ["dashboard"]),
    ({"widgets": [], "extra": 1}, ["dashboard"]),
    ({"widgets": "no"}, ["dashboard", "widgets"]),
    ({"widgets": [{"type": "CLOCK", "row": 0, "column": 0}]}, ["dashboard", "widgets", "0", "type"]),
    ({"widgets": [{"type": "USERS", "row": -1, "column": 0}]}, ["dashboard", "widgets", "0", "row"]),
    ({"widgets": [{"type": "USERS", "row": 0, "column": 4}]}, ["dashboard", "widgets", "0", "column"]),
    ({"widgets": [{"type": "USERS", "row": True, "column": 0}]}, ["dashboard", "widgets", "0", "row"]),
    ({"widgets": [{"type": "USERS", "row": 0, "column": 0, "color": "red"}]}, ["dashboard", "widgets", "0"]),
    ({"widgets": [{"type": "USERS", "row": 0, "column": 0},
                  {"type": "STORAGE", "row": 0, "column": 0}]}, ["dashboard", "widgets", "1"]),
])
async def test_dashboard_shape_is_validated(runtime, dashboard, path):
    mw = await build_mail_world(runtime)
    async with runtime.sessions() as session, session.begin():
        setup = await service.load_setup(session, mw.world.organizations["acme"])
        before = dict(setup.mail.dashboard)
        with pytest.raises(DomainError) as error:
            await service.edit_dashboard(session, setup, dashboard)
        assert (error.value.code, error.value.field) == ("INVALID_DASHBOARD", path)
        assert setup.mail.dashboard == before
        good = {"widgets": [{"type": "ALIASES", "row": 2, "column": 3, "title": "Aliases"}]}
        assert (await service.edit_dashboard(session, setup, good)).dashboard == good


@pytest.mark.parametrize("url", ["http://img.example/a.png", "javascript:alert(1)", "https://", "https:///a.png",
                                 "https://img.example/a b.png", "https://user:pw@img.example/a.png",
                                 "ftp://img.example/a.png", "https://img.example/" + "a" * 2000])
async def test_profile_image_must_be_an_https_url(runtime, url):
    mw = await build_mail_world(runtime)
    async with runtime.sessions() as session, session.begin():
        setup = await service.load_setup(session, mw.world.organizations["acme"])
        with pytest.raises(DomainError) as error:
            await service.set_profile_image(session, setup, mw.users["acme"]["bob"], url)
        assert (error.value.code, error.value.field) == ("INVALID_IMAGE_URL", ["imageUrl"])
        user = await service.set_profile_image(session, setup, mw.users["acme"]["bob"], "https://img.example/bob.png")
        assert user.profile_image_url == "https://img.example/bob.png"
        assert (await service.set_profile_image(session, setup, user.id, None)).profile_image_url is None


async def test_policy_rules_and_names_are_validated(runtime):
    mw = await build_mail_world(runtime)
    async with runtime.sessions() as session, session.begin():
        setup = await service.load_setup(session, mw.world.organizations["acme"])
        rules: object
        for rules in ([], {"match": {}}, [{"match": {"from": "x"}}], [{"match": {"body": "x"}, "action": "BLOCK"}],
                      [{"match": {"from": ""}, "action": "BLOCK"}], [{"match": {"from": "x"}, "action": "DROP"}]):
            with pytest.raises(DomainError) as error:
                await service.create_policy(session, setup, name="P", rules=rules, created_by=None)
            assert error.value.code == "INVALID_POLICY_RULES"
        with pytest.raises(DomainError) as error:
            await service.create_policy(session, setup, name="block EXE", rules=[{"match": {"to": "a"}, "action": "TAG"}],
                                        created_by=None)
        assert error.value.code == "POLICY_NAME_TAKEN"
        policy = await service.create_policy(session, setup, name=" Tag invoices ",
                                             rules=[{"match": {"subject": "invoice"}, "action": "TAG"}], created_by=None)
        assert (policy.name, policy.rules) == ("Tag invoices", [{"match": {"subject": "invoice"}, "action": "TAG"}])


async def test_settings_and_referral_program(runtime):
    mw = await build_mail_world(runtime)
    async with runtime.sessions() as session, session.begin():
        setup = await service.load_setup(session, mw.world.organizations["acme"])
        assert (await service.set_tfa(session, setup, True)).tfa_enabled is True
        assert (await service.set_contacts_sync(session, setup, True)).contacts_sync_enabled is True
        joined = (await service.join_referral_program(session, setup)).referral_program_joined_at
        assert joined is not None
        assert (await service.join_referral_program(session, setup)).referral_program_joined_at == joined


async def test_no_mail_setup_is_a_user_error(runtime):
    mw = await build_mail_world(runtime)
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(DomainError) as error:
            await service.load_setup(session, mw.world.organizations["direct"])
        assert error.value.code == "MAIL_NOT_SET_UP"


async def test_default_setup_uses_the_core_super_admin_in_domain_else_admin_mailbox(runtime):
    mw = await build_mail_world(runtime)
    async with runtime.sessions() as session, session.begin():
        direct = mw.world.organizations["direct"]
        mail = await service.set_up_mail_with_default_super_admin(session, direct)
        again = await service.set_up_mail_with_default_super_admin(session, direct)
        assert mail is not None and again is not None
        assert mail.id == again.id
        emails = (await session.scalars(select(models.MailUser.email).where(
            models.MailUser.organization_id == direct, models.MailUser.role == "SUPER_ADMIN"))).all()
        assert emails == ["boss@direct.example"]
        mapped = await service.set_up_mail_with_default_super_admin(session, mw.world.organizations["mapped"])
        assert mapped is not None  # already set up by the kit: unchanged
        assert await service.set_up_mail_with_default_super_admin(session, 999_999) is None


async def test_default_setup_falls_back_to_the_admin_mailbox_when_the_super_admin_address_is_refused(runtime):
    mw = await build_mail_world(runtime)
    direct = mw.world.organizations["direct"]
    async with runtime.sessions() as session, session.begin():
        from gateway.models import User

        boss = await session.get(User, mw.world.user_ids["direct_super_admin"])
        boss.email = "o'brien@direct.example"  # a real address the mailbox rules do not accept
    async with runtime.sessions() as session, session.begin():
        await service.set_up_mail_with_default_super_admin(session, direct)
        emails = (await session.scalars(select(models.MailUser.email).where(
            models.MailUser.organization_id == direct, models.MailUser.role == "SUPER_ADMIN"))).all()
        assert emails == ["admin@direct.example"]
