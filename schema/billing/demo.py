"""Demo cards (both owners), past payments and pending invoice lines (idempotent).

Cards: mapped organizations pay with the reseller's card or their own (alternating); direct
customers with their own; every seventh organization has no card. Payments and pending lines
are only added to an organization that has no payment yet.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import utcnow
from gateway.demo import DemoData
from schema.billing.proration import prorate
from schema.catalog.pricing import PeriodPrices, period_charges
from schema.common import seeded_organizations
from schema.models import InvoiceLine, Organization, Payment, PaymentMethod, Plan, Subscription

_BRANDS = ["VISA", "MASTERCARD", "AMEX", "VISA", "DISCOVER"]


async def seed_demo(session: AsyncSession, demo: DemoData, now: dt.datetime | None = None) -> None:
    now = (now or utcnow()).replace(microsecond=0)
    ids = list(seeded_organizations(demo).values())
    if not ids:
        return
    organizations = {o.id: o for o in (await session.scalars(select(Organization).where(Organization.id.in_(ids)))).all()}
    with_card = set((await session.scalars(
        select(PaymentMethod.organization_id).where(PaymentMethod.organization_id.in_(ids)))).all())
    with_payments = set((await session.scalars(
        select(Payment.organization_id).where(Payment.organization_id.in_(ids)))).all())
    # Only the subscriptions the core's demo made in this run: one a later seeder (a plugin's) makes is not
    # paid here on the next run either, so seeding twice changes nothing.
    made = [pk for pks in demo.extra.get("subscriptions", {}).values() for pk in pks]
    subscriptions = (await session.scalars(select(Subscription).where(
        Subscription.id.in_(made), Subscription.status == "ACTIVE").order_by(Subscription.id))).all()
    plans = {p.id: p for p in (await session.scalars(select(Plan))).all()}
    by_org: dict[int, list[Subscription]] = {}
    for subscription in subscriptions:
        by_org.setdefault(subscription.organization_id, []).append(subscription)

    for index, organization_id in enumerate(seeded_organizations(demo).values()):
        organization = organizations.get(organization_id)
        if organization is None:
            continue
        has_card = organization_id in with_card
        if not has_card and index % 7 != 6:
            owner = "RESELLER_CARD" if organization.partner_id is not None and index % 2 == 0 else "CUSTOMER_CARD"
            session.add(PaymentMethod(
                organization_id=organization_id, owner=owner, processor_token=f"tok_demo_{organization_id}",
                brand=_BRANDS[index % len(_BRANDS)], last4=f"{(4242 + index * 37) % 10000:04d}",
                exp_month=1 + index % 12, exp_year=now.year + 1 + index % 4,
                holder_name=organization.name if owner == "CUSTOMER_CARD" else "Partner card"))
            has_card = True
        if organization_id in with_payments or not has_card:
            continue
        owner_tag = "RESELLER_CARD" if organization.partner_id is not None and index % 2 == 0 else "CUSTOMER_CARD"
        for number, subscription in enumerate(by_org.get(organization_id, [])):
            plan = plans[subscription.plan_id]
            charges = period_charges(plan, PeriodPrices.locked(subscription), subscription.license_count,
                                     subscription.storage_gb, [])
            amount = sum((c.amount for c in charges), Decimal("0"))
            session.add(Payment(organization_id=organization_id, amount=amount, currency=plan.currency,
                                card_owner=owner_tag, description=f"{plan.name}: {subscription.license_count} licenses",
                                processor_reference=f"demo_ch_{subscription.id}",
                                created_at=subscription.current_period_start))
            if number == 0 and index % 3 == 0:  # a mid-period change: 5 more licenses, and a storage credit
                increase = prorate(PeriodPrices.locked(subscription).per_license * 5, subscription.current_period_start,
                                   subscription.current_period_end, now)
                session.add(InvoiceLine(
                    organization_id=organization_id, subscription_id=subscription.id, amount=increase,
                    currency=plan.currency, prorated=True, source="core",
                    description=f"Pro-rated increase: {plan.name}: 5 more licenses (demo)"))
                session.add(InvoiceLine(
                    organization_id=organization_id, subscription_id=subscription.id,
                    amount=-prorate(Decimal("2.00"), subscription.current_period_start, subscription.current_period_end,
                                    now), currency=plan.currency, prorated=True, source="core",
                    description="Pro-rated credit: 10 GB extra storage removed (demo)"))
    await session.flush()
