"""The core's demo data: partners, resellers, ~50 organizations, mapping history, delegated access, people.

Called by ``gateway demo seed`` through the core's ``gateway_seed_demo`` hook, before the
catalog, subscriptions and plugins add theirs. Idempotent: partners are found by code,
organizations by domain, users by email; rows that hang off an organization (mappings,
access, members) are only added when the organization is new.

The world, for people trying the API:
- distributors Northwind Distribution (NWD) and Southern Cross Distribution (SCD);
  resellers Bright Reseller (BRIGHT) and Cloud Corner (CLOUDC, disabled) under NWD,
  Harbor IT (HARBOR) under SCD; developer partner Appsmith Labs (APPSMITH); consulting
  partner Clear Advice Consulting (CLEARADV).
- acme.example (US): mapped to BRIGHT (before that HARBOR), BRIGHT has delegated admin access;
  super admin, admin and member users. globex.example (DE): mapped to BRIGHT, access revoked
  by its super admin. initech.example (IN): mapped to BRIGHT, domain not verified.
  umbrella.example (GB): a direct customer. 46 more across countries, statuses and partners.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth import get_or_create_user
from gateway.db import utcnow
from gateway.demo import DemoData, ensure_demo_token
from schema.common import seeded_organizations, seeded_partners
from schema.models import Organization, OrganizationMember, Partner, PartnerAccess, PartnerMapping, PartnerMember

# code, name, kind, parent code, status, city, country
PARTNERS = [
    ("NWD", "Northwind Distribution", "DISTRIBUTOR", None, "ACTIVE", "Chicago", "US"),
    ("SCD", "Southern Cross Distribution", "DISTRIBUTOR", None, "ACTIVE", "Sydney", "AU"),
    ("BRIGHT", "Bright Reseller", "RESELLER", "NWD", "ACTIVE", "Austin", "US"),
    ("CLOUDC", "Cloud Corner", "RESELLER", "NWD", "DISABLED", "Toronto", "CA"),
    ("HARBOR", "Harbor IT", "RESELLER", "SCD", "ACTIVE", "Auckland", "NZ"),
    ("APPSMITH", "Appsmith Labs", "DEVELOPER", None, "ACTIVE", "Berlin", "DE"),
    ("CLEARADV", "Clear Advice Consulting", "CONSULTING", None, "ACTIVE", "London", "GB"),
]


@dataclass(frozen=True)
class DemoOrganization:
    domain: str
    name: str
    country: str
    city: str
    status: str
    partner: str | None  # current mapping (partner code)
    verified: bool = True
    access: str | None = "ACTIVE"  # delegated admin access of the mapped partner: ACTIVE, REVOKED or None
    previous_partner: str | None = None  # mapping history: mapped to this one before
    mapped_by: str = "PARTNER"
    age_days: int = 100


FEATURED = [
    DemoOrganization("acme.example", "Acme Corporation", "US", "Springfield", "ACTIVE", "BRIGHT",
                     previous_partner="HARBOR", mapped_by="CUSTOMER", age_days=420),
    DemoOrganization("globex.example", "Globex", "DE", "Hamburg", "ACTIVE", "BRIGHT", access="REVOKED", age_days=380),
    DemoOrganization("initech.example", "Initech", "IN", "Bengaluru", "TRIAL", "BRIGHT", verified=False, age_days=12),
    DemoOrganization("umbrella.example", "Umbrella Health", "GB", "Manchester", "ACTIVE", None, access=None,
                     mapped_by="CUSTOMER", age_days=300),
]

_NAMES = [
    "Aurora Bakery", "Blue Fjord Shipping", "Cedar Dental", "Delta Logistics", "Evergreen Schools", "Falcon Legal",
    "Granite Builders", "Helios Solar", "Ivy Florists", "Juniper Clinics", "Kestrel Air", "Lumen Studios",
    "Maple Accounting", "Nimbus Weather", "Orchid Hotels", "Pioneer Farms", "Quartz Jewelers", "Redwood Outdoor",
    "Sapphire Travel", "Tundra Gear", "Umber Coffee", "Vertex Engineering", "Willow Care", "Xenon Labs",
    "Yarrow Herbs", "Zephyr Cycles", "Atlas Movers", "Beacon Insurance", "Cobalt Robotics", "Dune Architects",
    "Ember Foods", "Fable Books", "Glacier Water", "Harbor Fitness", "Iris Optics", "Jade Textiles",
    "Koala Toys", "Lagoon Resorts", "Mosaic Media", "Nova Pharmacy", "Opal Realty", "Prism Printing",
    "Quill Translations", "Raven Security", "Sierra Vineyards", "Tidal Energy",
]
_PLACES = [("US", "Denver"), ("DE", "Munich"), ("FR", "Lyon"), ("GB", "Leeds"), ("IN", "Pune"), ("BR", "Recife"),
           ("JP", "Osaka"), ("AU", "Perth"), ("CA", "Calgary"), ("ES", "Valencia"), ("IT", "Turin"),
           ("NL", "Utrecht"), ("SE", "Malmo"), ("MX", "Puebla"), ("ZA", "Durban"), ("NZ", "Wellington")]
_STATUSES = ["ACTIVE", "ACTIVE", "ACTIVE", "TRIAL", "ACTIVE", "INACTIVE", "ACTIVE", "SUSPENDED", "TRIAL", "ACTIVE"]
_PARTNER_CYCLE = ["BRIGHT", "HARBOR", "NWD", None, "BRIGHT", "SCD", "CLOUDC", "HARBOR", None, "BRIGHT", "CLEARADV"]


def demo_organizations() -> list[DemoOrganization]:
    """The featured organizations, then 46 generated ones (deterministic)."""
    generated = []
    for index, name in enumerate(_NAMES):
        country, city = _PLACES[index % len(_PLACES)]
        partner = _PARTNER_CYCLE[index % len(_PARTNER_CYCLE)]
        verified = index % 9 != 4
        access = None if partner is None else ("REVOKED" if index % 8 == 3 else "ACTIVE")
        previous = None
        if partner is not None and index % 7 == 2:
            previous = "HARBOR" if partner != "HARBOR" else "BRIGHT"
        generated.append(DemoOrganization(
            domain=name.lower().replace(" ", "-") + ".example", name=name, country=country, city=city,
            status=_STATUSES[index % len(_STATUSES)], partner=partner, verified=verified, access=access,
            previous_partner=previous, mapped_by="CUSTOMER" if index % 3 == 0 else "PARTNER",
            age_days=10 + (index * 17) % 700,
        ))
    return [*FEATURED, *generated]


# label, email, name, platform role, (partner code, partner role) or (domain, organization role), what it can do
PEOPLE: list[tuple[str, str, str, str | None, tuple[str, str] | None, tuple[str, str] | None, str]] = [
    ("platform_admin", "admin@platform.example", "Pat Platform", "ADMIN", None, None,
     "everything, on every partner and organization"),
    ("platform_analyst", "analyst@platform.example", "Ana Lytics", "ANALYST", None, None,
     "reads every organization, subscription stats, exports and the audit log; changes nothing"),
    ("messaging_service", "messaging@platform.example", "Messaging Service", "MESSAGING_SERVICE", None, None,
     "records instant-messaging usage (desk_im)"),
    ("distributor_admin", "admin@northwind.example", "Nora Northwind", None, ("NWD", "PARTNER_ADMIN"), None,
     "Northwind: manages its resellers (BRIGHT, CLOUDC), reads their customers"),
    ("partner_admin", "admin@bright.example", "Ben Bright", None, ("BRIGHT", "PARTNER_ADMIN"), None,
     "Bright Reseller: creates customers, manages their subscriptions and billing, delegated admin of acme.example"),
    ("partner_analyst", "analyst@bright.example", "Bea Bright", None, ("BRIGHT", "PARTNER_ANALYST"), None,
     "Bright Reseller: reads its customers, stats and exports; changes nothing"),
    ("disabled_reseller_admin", "admin@cloudcorner.example", "Cal Corner", None, ("CLOUDC", "PARTNER_ADMIN"), None,
     "Cloud Corner (disabled): can do nothing, reads included, until Northwind enables it; sees only its own partner record"),
    ("developer", "dev@appsmith.example", "Dev Appsmith", None, ("APPSMITH", "DEVELOPER"), None,
     "Appsmith Labs: publishes solution versions, requests developer access"),
    ("consulting_admin", "admin@clearadvice.example", "Cleo Advice", None, ("CLEARADV", "PARTNER_ADMIN"), None,
     "Clear Advice Consulting: manages its mapped customers"),
    ("org_super_admin", "boss@acme.example", "Alice Acme", None, None, ("acme.example", "SUPER_ADMIN"),
     "Acme: everything, incl. tagging a partner and revoking its access"),
    ("org_admin", "admin@acme.example", "Adam Acme", None, None, ("acme.example", "ADMIN"),
     "Acme: administers the organization; no partner or subscription authority"),
    ("org_member", "member@acme.example", "Mia Acme", None, None, ("acme.example", "MEMBER"),
     "Acme: reads its own organization"),
    ("globex_super_admin", "boss@globex.example", "Greta Globex", None, None, ("globex.example", "SUPER_ADMIN"),
     "Globex: revoked Bright's delegated access"),
    ("direct_super_admin", "boss@umbrella.example", "Uma Umbrella", None, None, ("umbrella.example", "SUPER_ADMIN"),
     "Umbrella Health: a direct customer, manages its own subscriptions"),
]


async def seed_demo(session: AsyncSession, demo: DemoData) -> None:
    """Partners, organizations, mapping history, delegated access, users for every role and their tokens."""
    await _seed_partners(session, demo)
    new_domains = await _seed_organizations(session, demo)
    await _seed_people(session, demo, new_domains)


async def _seed_partners(session: AsyncSession, demo: DemoData) -> None:
    existing = {p.code: p for p in (await session.scalars(
        select(Partner).where(Partner.code.in_([row[0] for row in PARTNERS])))).all()}
    for code, name, kind, parent, status, city, country in PARTNERS:
        partner = existing.get(code)
        if partner is None:
            partner = Partner(code=code, name=name, kind=kind, status=status,
                              parent_id=seeded_partners(demo)[parent] if parent else None,
                              address={"line1": "1 Demo Street", "city": city, "country": country})
            session.add(partner)
            await session.flush()
        seeded_partners(demo)[code] = partner.id


async def _seed_organizations(session: AsyncSession, demo: DemoData) -> set[str]:
    wanted = demo_organizations()
    existing = {o.domain: o for o in (await session.scalars(
        select(Organization).where(Organization.domain.in_([o.domain for o in wanted])))).all()}
    kinds = {code: kind for code, _, kind, *_ in PARTNERS}
    now = utcnow().replace(microsecond=0)
    new: set[str] = set()
    for spec in wanted:
        row = existing.get(spec.domain)
        if row is None:
            created = now - dt.timedelta(days=spec.age_days)
            partner_id = seeded_partners(demo)[spec.partner] if spec.partner else None
            row = Organization(
                name=spec.name, domain=spec.domain, domain_verified=spec.verified,
                domain_verification_code="pgw-verify-" + spec.domain.split(".")[0],
                status=spec.status, address_line1="10 Example Road", city=spec.city, country=spec.country,
                partner_id=partner_id,
                customer_partner_id=partner_id if spec.partner and kinds[spec.partner] == "RESELLER" else None,
                created_at=created,
            )
            session.add(row)
            await session.flush()
            new.add(spec.domain)
            _history(session, demo, row.id, spec, created, now)
        seeded_organizations(demo)[spec.domain] = row.id
    return new


def _history(session: AsyncSession, demo: DemoData, organization_id: int, spec: DemoOrganization,
             created: dt.datetime, now: dt.datetime) -> None:
    """Mapping history (an earlier partner for some) and the delegated access of the current partner."""
    if spec.partner is None:
        return
    mapped_at = created
    if spec.previous_partner:
        mapped_at = created + (now - created) / 2
        session.add(PartnerMapping(organization_id=organization_id, partner_id=seeded_partners(demo)[spec.previous_partner],
                                   mapped_by="PARTNER", mapped_at=created, unmapped_at=mapped_at))
        session.add(PartnerAccess(organization_id=organization_id, partner_id=seeded_partners(demo)[spec.previous_partner],
                                  status="REVOKED", granted_at=created, revoked_at=mapped_at))
    session.add(PartnerMapping(organization_id=organization_id, partner_id=seeded_partners(demo)[spec.partner],
                               mapped_by=spec.mapped_by, mapped_at=mapped_at))
    if spec.access:
        revoked = spec.access == "REVOKED"
        session.add(PartnerAccess(organization_id=organization_id, partner_id=seeded_partners(demo)[spec.partner],
                                  status=spec.access, granted_at=mapped_at,
                                  revoked_at=now - dt.timedelta(days=3) if revoked else None))


async def _seed_people(session: AsyncSession, demo: DemoData, new_domains: set[str]) -> None:
    for label, email, name, platform_role, partner_role, org_role, can in PEOPLE:
        user = await get_or_create_user(session, email, name, platform_role)
        demo.users[user.email] = user.id
        if partner_role is not None:
            code, role = partner_role
            partner_id = seeded_partners(demo)[code]
            if await session.scalar(select(PartnerMember.id).where(
                    PartnerMember.partner_id == partner_id, PartnerMember.user_id == user.id)) is None:
                session.add(PartnerMember(partner_id=partner_id, user_id=user.id, role=role))
        if org_role is not None:
            domain, role = org_role
            organization_id = seeded_organizations(demo)[domain]
            if await session.scalar(select(OrganizationMember.id).where(
                    OrganizationMember.organization_id == organization_id,
                    OrganizationMember.user_id == user.id)) is None:
                session.add(OrganizationMember(organization_id=organization_id, user_id=user.id, role=role))
        await ensure_demo_token(session, demo, user, label, can)
    if "globex.example" in new_domains:  # the revocation was Globex's super admin's doing
        access = await session.scalar(select(PartnerAccess).where(
            PartnerAccess.organization_id == seeded_organizations(demo)["globex.example"],
            PartnerAccess.partner_id == seeded_partners(demo)["BRIGHT"]))
        if access is not None:
            access.revoked_by_user_id = demo.users["boss@globex.example"]
    await session.flush()
