"""A small standard world for tests of the core and of plugins: every role, with tokens.

    world = await build_world(runtime)
    await run_query(runtime, "{ viewer { user { email } } }", token=world.tokens["org_super_admin"])

Partners: distributor ``dist`` (code DIST1) with reseller ``reseller`` (RESEL1) under it; another
distributor ``other`` (OTHER1); developer partner ``devco`` (DEVCO1).
Organizations: ``acme`` (acme.example, verified, mapped to the reseller, which has active
delegated access; super admin, admin, member), ``direct`` (direct.example, verified, no partner;
super admin), ``unverified`` (unverified.example, mapped to the reseller with delegated access,
domain not verified).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from gateway.auth import get_or_create_user, issue_token
from gateway.db import utcnow
from gateway.plugins import create_plugin_manager
from gateway.relay import encode_id
from gateway.runtime import Runtime
from schema import models
from schema.catalog.declaration import ProductSpec
from schema.catalog.service import SyncResult, declared_catalog, sync_catalog

# Every role a test walks, by the key of its token in World.tokens.
ROLES = [
    "platform_admin", "platform_analyst", "messaging_service",
    "org_super_admin", "org_admin", "org_member",
    "reseller_admin", "reseller_analyst", "distributor_admin", "distributor_analyst",
    "other_partner_admin", "developer", "direct_super_admin", "no_role", "anonymous",
]


@dataclass
class World:
    tokens: dict[str, str | None] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    partners: dict[str, int] = field(default_factory=dict)
    organizations: dict[str, int] = field(default_factory=dict)
    plans: dict[str, int] = field(default_factory=dict)
    products: dict[str, int] = field(default_factory=dict)
    subscriptions: dict[str, int] = field(default_factory=dict)

    def org_id(self, key: str) -> str:
        return encode_id("Organization", self.organizations[key])

    def partner_id(self, key: str) -> str:
        return encode_id("Partner", self.partners[key])

    def subscription_id(self, key: str) -> str:
        return encode_id("ProductSubscription", self.subscriptions[key])


async def build_world(runtime: Runtime) -> World:
    world = World(tokens={"anonymous": None})
    async with runtime.sessions() as session, session.begin():
        async def person(key: str, email: str, platform_role: str | None = None) -> int:
            user = await get_or_create_user(session, email, email.split("@")[0].replace(".", " ").title(), platform_role)
            _, token = await issue_token(session, user, f"test {key}")
            world.tokens[key] = token
            world.user_ids[key] = user.id
            return user.id

        def partner(key: str, name: str, code: str, kind: str, parent: str | None = None) -> models.Partner:
            row = models.Partner(name=name, code=code, kind=kind,
                                 parent_id=world.partners[parent] if parent else None,
                                 address={"city": "Berlin", "country": "DE"})
            session.add(row)
            return row

        rows = {
            "dist": partner("dist", "Dist One", "DIST1", "DISTRIBUTOR"),
            "other": partner("other", "Other Dist", "OTHER1", "DISTRIBUTOR"),
            "devco": partner("devco", "DevCo", "DEVCO1", "DEVELOPER"),
        }
        await session.flush()
        world.partners.update({k: v.id for k, v in rows.items()})
        reseller = partner("reseller", "Resell One", "RESEL1", "RESELLER", parent="dist")
        await session.flush()
        world.partners["reseller"] = reseller.id

        now = utcnow()

        def organization(key: str, domain: str, partner_key: str | None, verified: bool, country: str) -> models.Organization:
            row = models.Organization(
                name=key.title() + " Inc", domain=domain, domain_verified=verified,
                domain_verification_code=f"verify-{key}", status="ACTIVE", country=country, city="Town",
                partner_id=world.partners[partner_key] if partner_key else None, created_at=now,
            )
            session.add(row)
            return row

        orgs = {
            "acme": organization("acme", "acme.example", "reseller", True, "US"),
            "direct": organization("direct", "direct.example", None, True, "DE"),
            "unverified": organization("unverified", "unverified.example", "reseller", False, "IN"),
        }
        await session.flush()
        world.organizations.update({k: v.id for k, v in orgs.items()})
        for key in ("acme", "unverified"):
            session.add(models.PartnerMapping(organization_id=orgs[key].id, partner_id=reseller.id, mapped_by="PARTNER"))
            session.add(models.PartnerAccess(organization_id=orgs[key].id, partner_id=reseller.id, status="ACTIVE"))

        await person("platform_admin", "admin@platform.example", "ADMIN")
        await person("platform_analyst", "analyst@platform.example", "ANALYST")
        await person("messaging_service", "messaging@platform.example", "MESSAGING_SERVICE")
        for key, email, org, role in [
            ("org_super_admin", "boss@acme.example", "acme", "SUPER_ADMIN"),
            ("org_admin", "admin@acme.example", "acme", "ADMIN"),
            ("org_member", "member@acme.example", "acme", "MEMBER"),
            ("direct_super_admin", "boss@direct.example", "direct", "SUPER_ADMIN"),
            ("unverified_super_admin", "boss@unverified.example", "unverified", "SUPER_ADMIN"),
        ]:
            user_id = await person(key, email)
            session.add(models.OrganizationMember(organization_id=world.organizations[org], user_id=user_id, role=role))
        for key, email, partner_key, role in [
            ("reseller_admin", "admin@resell.example", "reseller", "PARTNER_ADMIN"),
            ("reseller_analyst", "analyst@resell.example", "reseller", "PARTNER_ANALYST"),
            ("distributor_admin", "admin@dist.example", "dist", "PARTNER_ADMIN"),
            ("distributor_analyst", "analyst@dist.example", "dist", "PARTNER_ANALYST"),
            ("other_partner_admin", "admin@other.example", "other", "PARTNER_ADMIN"),
            ("developer", "dev@devco.example", "devco", "DEVELOPER"),
        ]:
            user_id = await person(key, email)
            session.add(models.PartnerMember(partner_id=world.partners[partner_key], user_id=user_id, role=role))
        await person("no_role", "nobody@example.com")

        product = models.Product(code="MAIL", name="Mail")
        session.add(product)
        await session.flush()
        world.products["MAIL"] = product.id
        for code, name, price, rank in [("MAIL_STANDARD", "Mail Standard", "4.00", 1), ("MAIL_PREMIUM", "Mail Premium", "8.00", 2)]:
            plan = models.Plan(product_id=product.id, code=code, name=name, price_per_license=Decimal(price), currency="USD",
                               billing_period="MONTHLY", included_storage_gb=5, trial_days=15, rank=rank,
                               storage_price_per_gb=Decimal("0.50"))
            session.add(plan)
            await session.flush()
            world.plans[code] = plan.id
        start = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
        for key, org in (("acme_mail", "acme"), ("direct_mail", "direct")):
            sub = models.Subscription(
                organization_id=world.organizations[org], product_id=product.id, plan_id=world.plans["MAIL_STANDARD"],
                status="ACTIVE", license_count=10, storage_gb=5, auto_renew=True,
                current_period_start=start, current_period_end=start + dt.timedelta(days=30),
            )
            session.add(sub)
            await session.flush()
            world.subscriptions[key] = sub.id
    return world


def role_tokens(world: World, roles: list[str] | None = None) -> list[tuple[str, str | None]]:
    return [(role, world.tokens.get(role)) for role in (roles or ROLES)]


def declared_catalogs(plugins: Iterable[str] | None = None) -> dict[str, list[ProductSpec]]:
    """The products the installed plugins declare (or only ``plugins``'), by plugin, as ``gateway catalog sync``
    reads them: a core test that orders MAIL or DESK plans syncs them without enabling those plugins."""
    return declared_catalog(create_plugin_manager(plugins))


async def sync_catalogs(runtime: Runtime, declarations: Mapping[str, Sequence[ProductSpec]] | None = None,
                        ) -> SyncResult:
    """Write ``declarations`` (by default every installed plugin's, :func:`declared_catalogs`) in one transaction."""
    async with runtime.sessions() as session, session.begin():
        return await sync_catalog(session, declared_catalogs() if declarations is None else declarations)
