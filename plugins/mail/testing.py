"""Test kit of the mail plugin: the core's standard world plus mail rows.

    mw = await build_mail_world(runtime)     # or add_mail(runtime, world) on the kit's world fixture
    mw.world.tokens["reseller_admin"], mw.users["acme"]["bob"], mw.org_id("mapped")

On top of ``schema.testing.build_world``: an organization ``mapped`` (mapped.example, verified,
mapped to the reseller WITHOUT delegated access), and mail set up for ``acme`` (super admin
boss@acme.example, admin alice, member bob, alias info@ -> boss, a policy), ``unverified``
(super admin boss@unverified.example) and ``mapped`` (super admin admin@mapped.example).
``direct`` has no mail.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import utcnow
from gateway.relay import encode_id
from gateway.runtime import Runtime
from plugins.mail import models, service
from schema import models as core
from schema.testing import World, build_world


@dataclass
class MailWorld:
    world: World
    users: dict[str, dict[str, int]] = field(default_factory=dict)  # org key -> local part -> mail user pk

    def org_id(self, key: str) -> str:
        return self.world.org_id(key)

    def user_id(self, org: str, local: str) -> str:
        return encode_id("MailUser", self.users[org][local])

    def token(self, key: str) -> str | None:
        return self.world.tokens.get(key)


async def add_mapped_only_organization(session: AsyncSession, world: World) -> int:
    """An organization mapped to the reseller, with no delegated admin access (``world.organizations["mapped"]``)."""
    row = core.Organization(name="Mapped Inc", domain="mapped.example", domain_verified=True,
                            domain_verification_code="verify-mapped", status="ACTIVE", country="FR", city="Lyon",
                            partner_id=world.partners["reseller"])
    session.add(row)
    await session.flush()
    session.add(core.PartnerMapping(organization_id=row.id, partner_id=world.partners["reseller"], mapped_by="CUSTOMER"))
    world.organizations["mapped"] = row.id
    return row.id


async def build_mail_world(runtime: Runtime) -> MailWorld:
    return await add_mail(runtime, await build_world(runtime))


async def add_mail(runtime: Runtime, world: World) -> MailWorld:
    """The mail rows on top of a standard world already built (the test kit's ``world`` fixture)."""
    mw = MailWorld(world)
    async with runtime.sessions() as session, session.begin():
        await add_mapped_only_organization(session, world)
        for key, email, name in [("acme", "boss@acme.example", "Boss"),
                                 ("unverified", "boss@unverified.example", "Boss"),
                                 ("mapped", "admin@mapped.example", "Admin")]:
            await service.set_up_mail(session, world.organizations[key], super_admin_email=email, super_admin_name=name)
            setup = await service.load_setup(session, world.organizations[key])
            super_admin = await session.scalar(select(models.MailUser).where(
                models.MailUser.organization_id == world.organizations[key], models.MailUser.role == "SUPER_ADMIN"))
            mw.users[key] = {email.split("@")[0]: super_admin.id}
            if key == "acme":
                alice = await service.add_user(session, setup, email="alice@acme.example", name="Alice", role="ADMIN")
                bob = await service.add_user(session, setup, email="bob@acme.example", name="Bob")
                mw.users[key].update(alice=alice.id, bob=bob.id)
                await service.create_alias(session, setup, super_admin.id, "info@acme.example")
                await service.create_policy(session, setup, name="Block exe",
                                            rules=[{"match": {"attachmentExtension": "exe"}, "action": "BLOCK"}],
                                            created_by=None)
    return mw


async def add_mail_user(runtime: Runtime, mw: MailWorld, org: str, local: str, role: str = "MEMBER") -> int:
    """A fresh mail user in ``org`` (committed); returns its pk and records it in ``mw.users``."""
    async with runtime.sessions() as session, session.begin():
        setup = await service.load_setup(session, mw.world.organizations[org])
        user = await service.add_user(session, setup, email=f"{local}@{setup.organization.domain}", name=local.title(),
                                      role=role)
        mw.users.setdefault(org, {})[local] = user.id
        return user.id


async def revoke_delegated_access(runtime: Runtime, mw: MailWorld, org: str = "acme", partner: str = "reseller") -> None:
    """What revokePartnerAccess leaves behind: the partner's access row REVOKED with a date and who revoked it."""
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(core.PartnerAccess).where(
            core.PartnerAccess.organization_id == mw.world.organizations[org],
            core.PartnerAccess.partner_id == mw.world.partners[partner],
        ).values(status="REVOKED", revoked_at=utcnow(), revoked_by_user_id=mw.world.user_ids.get("org_super_admin")))
