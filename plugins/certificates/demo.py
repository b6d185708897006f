"""Demo rows of the certificates plugin: a few certificate subscriptions.

Idempotent: an organization that already has a certificate subscription gets no more. The
catalog (``catalog.py``) is synced before the demo seeders run; ``ensure_certificate_catalog``
makes sure of it when this seeder runs alone.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import utcnow
from gateway.demo import DemoData
from plugins.certificates.catalog import ensure_certificate_catalog
from plugins.certificates.service import CERTIFICATES_PRODUCT, Item, SubscriptionSpec, add_years, create_subscriptions
from schema.common import seeded_organizations
from schema.models import Product, Subscription

# domain -> subscriptions (items, auto-renew); organizations missing from the demo are skipped.
DEMO_SUBSCRIPTIONS: dict[str, list[SubscriptionSpec]] = {
    "acme.example": [
        SubscriptionSpec([Item("DV", 20), Item("WILDCARD", 2)], auto_renew=True),
        SubscriptionSpec([Item("EV", 1)], auto_renew=False),
    ],
    "globex.example": [SubscriptionSpec([Item("OV", 5), Item("CODE_SIGNING", 1)], auto_renew=True)],
    "umbrella.example": [SubscriptionSpec([Item("MULTI_DOMAIN", 3)], auto_renew=False)],
}


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
