"""Demo data: mail for every demo organization with a Mail subscription (idempotent)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.demo import DemoData
from plugins.mail import models, service
from schema.models import Organization, Product, Subscription

DEMO_USERS = [("alice", "Alice Archer", "ADMIN"), ("bob", "Bob Baker", "MEMBER"), ("carol", "Carol Chen", "MEMBER")]
DEMO_ALIASES = [("info", None), ("sales", "alice"), ("support", "bob")]  # None: the super admin
DEMO_POLICY = ("Quarantine executables", [{"match": {"attachmentExtension": "exe"}, "action": "QUARANTINE"}])


async def mail_organization_ids(session: AsyncSession) -> list[int]:
    """Organizations with a Mail subscription (any status but CANCELLED/EXPIRED)."""
    rows = await session.scalars(
        select(Subscription.organization_id).join(Product, Product.id == Subscription.product_id)
        .where(Product.code == "MAIL", Subscription.status.not_in(["CANCELLED", "EXPIRED"]))
        .distinct().order_by(Subscription.organization_id)
    )
    return list(rows.all())


async def seed_demo(session: AsyncSession, demo: DemoData) -> None:
    for organization_id in await mail_organization_ids(session):
        exists = await session.scalar(select(models.MailOrganization.id).where(
            models.MailOrganization.organization_id == organization_id))
        if exists is not None:
            continue  # seeded before: leave it as the users left it
        organization = await session.get(Organization, organization_id)
        mail = await service.set_up_mail_with_default_super_admin(session, organization_id)
        if organization is None or mail is None:
            continue
        setup = service.MailSetup(organization, mail)
        super_admin = await session.scalar(select(models.MailUser).where(
            models.MailUser.organization_id == organization_id, models.MailUser.role == "SUPER_ADMIN"))
        if super_admin is None:
            continue  # set_up_mail always names one; without it the aliases below would have no owner
        users: dict[str | None, models.MailUser] = {None: super_admin}
        for local, name, role in DEMO_USERS:
            if super_admin.email == f"{local}@{organization.domain}":
                users[local] = super_admin
                continue
            users[local] = await service.add_user(session, setup, email=f"{local}@{organization.domain}", name=name,
                                                  role=role)
        if organization.domain_verified:
            for local, owner in DEMO_ALIASES:
                await service.create_alias(session, setup, users[owner].id, f"{local}@{organization.domain}")
        await service.create_policy(session, setup, name=DEMO_POLICY[0], rules=DEMO_POLICY[1], created_by=None)
        mail.tfa_enabled = True
        demo.extra.setdefault("mail_organizations", []).append(organization_id)
    await session.flush()
