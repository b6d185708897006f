"""Demo rows of the certificates plugin: the certificate catalog and a few certificate subscriptions.

Idempotent: the catalog is created only where missing, and an organization that already
has a certificate subscription gets no more.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import utcnow
from gateway.demo import DemoData
from plugins.certificates.models import CertificateType
from plugins.certificates.service import (
    CERTIFICATE_PLAN,
    CERTIFICATES_PRODUCT,
    Item,
    SubscriptionSpec,
    add_years,
    create_subscriptions,
)
from schema.common import seeded_organizations
from schema.models import Plan, Product, Subscription

# code, name, yearly unit price (USD)
CERTIFICATE_CATALOG = [
    ("DV", "Domain Validated (DV)", "49.00"),
    ("OV", "Organization Validated (OV)", "149.00"),
    ("EV", "Extended Validation (EV)", "299.00"),
    ("WILDCARD", "Wildcard", "199.00"),
    ("MULTI_DOMAIN", "Multi-domain (SAN)", "249.00"),
    ("CODE_SIGNING", "Code signing", "399.00"),
]

# domain -> subscriptions (items, auto-renew); organizations missing from the demo are skipped.
DEMO_SUBSCRIPTIONS: dict[str, list[SubscriptionSpec]] = {
    "acme.example": [
        SubscriptionSpec([Item("DV", 20), Item("WILDCARD", 2)], auto_renew=True),
        SubscriptionSpec([Item("EV", 1)], auto_renew=False),
    ],
    "globex.example": [SubscriptionSpec([Item("OV", 5), Item("CODE_SIGNING", 1)], auto_renew=True)],
    "umbrella.example": [SubscriptionSpec([Item("MULTI_DOMAIN", 3)], auto_renew=False)],
}


async def ensure_certificate_catalog(session: AsyncSession) -> dict[str, CertificateType]:
    """The CERTIFICATES product, its CERT_STANDARD plan and the certificate types, created where missing."""
    product = await session.scalar(select(Product).where(Product.code == CERTIFICATES_PRODUCT))
    if product is None:
        product = Product(code=CERTIFICATES_PRODUCT, name="Certificate Manager")
        session.add(product)
        await session.flush()
    plan = await session.scalar(select(Plan).where(Plan.code == CERTIFICATE_PLAN))
    if plan is None:
        session.add(Plan(product_id=product.id, code=CERTIFICATE_PLAN, name="Certificate Manager Standard",
                         price_per_license=Decimal("0"), currency="USD", billing_period="YEARLY",
                         included_storage_gb=0, trial_days=0, rank=1))
    existing = {row.code: row for row in (await session.scalars(select(CertificateType))).all()}
    for code, name, price in CERTIFICATE_CATALOG:
        if code not in existing:
            existing[code] = CertificateType(code=code, name=name, unit_price=Decimal(price), currency="USD")
            session.add(existing[code])
    await session.flush()
    return existing


async def seed_certificate_catalog(session: AsyncSession) -> dict[str, int]:
    """The plugin's ``gateway_seed_catalog``: the certificate catalog, reporting how many types it added."""
    count = select(func.count()).select_from(CertificateType)
    before = await session.scalar(count) or 0
    await ensure_certificate_catalog(session)
    return {"certificate types": (await session.scalar(count) or 0) - before}


async def seed_demo(session: AsyncSession, demo: DemoData, *, now: dt.datetime | None = None) -> None:
    await ensure_certificate_catalog(session)
    now = now or utcnow()
    product_id = await session.scalar(select(Product.id).where(Product.code == CERTIFICATES_PRODUCT))
    for domain, specs in DEMO_SUBSCRIPTIONS.items():
        organization_id = seeded_organizations(demo).get(domain)
        if organization_id is None:
            continue
        already = await session.scalar(select(Subscription.id).where(
            Subscription.organization_id == organization_id, Subscription.product_id == product_id).limit(1))
        if already is not None:
            continue
        # Started ten months ago, so the demo shows pro-ration over the two months left.
        start = add_years(now, -1) + dt.timedelta(days=60)
        created = await create_subscriptions(session, organization_id=organization_id, specs=specs, now=start)
        demo.extra.setdefault("certificate_subscriptions", {})[domain] = [s.id for s in created]
