"""Demo subscriptions for the demo organizations, across the four products (idempotent).

The plans come from the catalog the enabled plugins declared (synced before the demo seeders
run): a subscription to a plan that does not exist (its plugin is disabled) is skipped, and so
is an add-on that does not exist. An organization that already has a subscription is left
alone, so seeding twice changes nothing. The certificates plugin seeds certificate
subscriptions for acme, globex and umbrella itself; the core adds CERTIFICATES subscriptions
only to some generated organizations.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import utcnow
from gateway.demo import DemoData
from schema.catalog.pricing import add_period
from schema.common import seeded_organizations
from schema.models import AddOn, Organization, Plan, Subscription, SubscriptionAddOn, SubscriptionChange

CERTIFICATE_PLUGIN_DOMAINS = {"acme.example", "globex.example", "umbrella.example"}
# domain -> [(plan code, licenses, status, add-ons {code: quantity})]
FEATURED: dict[str, list[tuple[str, int, str, dict[str, int]]]] = {
    "acme.example": [("MAIL_PREMIUM", 25, "ACTIVE", {"MAIL_EXTRA_STORAGE": 3}),
                     ("VERTICAL_PROFESSIONAL", 10, "ACTIVE", {"VERTICAL_STORAGE": 50}),
                     ("DESK_STANDARD", 5, "ACTIVE", {"DESK_SMS": 1})],
    "globex.example": [("MAIL_STANDARD", 40, "ACTIVE", {}), ("DESK_PROFESSIONAL", 8, "ACTIVE", {"DESK_VOICE_MINUTES": 1})],
    "initech.example": [("MAIL_STANDARD", 5, "TRIAL", {}), ("VERTICAL_STARTER", 3, "TRIAL", {})],
    "umbrella.example": [("MAIL_STANDARD_YEARLY", 60, "ACTIVE", {"MAIL_EXTRA_STORAGE": 1}),
                         ("DESK_STANDARD", 12, "SUSPENDED", {})],
}
_MAIL = ["MAIL_STANDARD", "MAIL_PREMIUM", "MAIL_STANDARD_YEARLY"]
_STATUS_FOR_ORG = {"TRIAL": "TRIAL", "SUSPENDED": "SUSPENDED", "INACTIVE": "CANCELLED"}


def generated_subscriptions(index: int, domain: str, org_status: str) -> list[tuple[str, int, str, dict[str, int]]]:
    status = _STATUS_FOR_ORG.get(org_status, "ACTIVE")
    specs = [(_MAIL[index % 3], 5 + (index * 7) % 40, status, {"MAIL_EXTRA_STORAGE": 1} if index % 4 == 0 else {})]
    if index % 3 == 0:
        specs.append(("VERTICAL_STARTER" if index % 2 else "VERTICAL_PROFESSIONAL", 2 + index % 9, status,
                      {"VERTICAL_STORAGE": 20} if index % 2 == 0 else {}))
    if index % 4 == 1:
        specs.append(("DESK_STANDARD" if index % 8 == 1 else "DESK_PROFESSIONAL", 3 + index % 6, status, {"DESK_SMS": 1}))
    if index % 5 == 2 and domain not in CERTIFICATE_PLUGIN_DOMAINS:
        specs.append(("CERT_STANDARD", 1 + index % 3, status if status != "TRIAL" else "ACTIVE", {}))
    return specs


async def seed_demo(session: AsyncSession, demo: DemoData, now: dt.datetime | None = None) -> None:
    """Subscriptions (with add-ons and their ADDED change) for every demo organization that has none."""
    now = (now or utcnow()).replace(microsecond=0)
    plans = {p.code: p for p in (await session.scalars(select(Plan))).all()}
    add_ons = {a.code: a for a in (await session.scalars(select(AddOn))).all()}
    ids = list(seeded_organizations(demo).values())
    if not ids:
        return
    organizations = {o.id: o for o in (await session.scalars(select(Organization).where(Organization.id.in_(ids)))).all()}
    subscribed = set((await session.scalars(
        select(Subscription.organization_id).where(Subscription.organization_id.in_(ids)))).all())
    created: dict[str, list[int]] = {}
    for index, (domain, organization_id) in enumerate(seeded_organizations(demo).items()):
        organization = organizations.get(organization_id)
        if organization is None or organization_id in subscribed:
            continue
        specs = FEATURED.get(domain) or generated_subscriptions(index, domain, organization.status)
        for number, (plan_code, licenses, status, wanted_add_ons) in enumerate(specs):
            plan = plans.get(plan_code)
            if plan is None:  # its product's plugin is not enabled
                continue
            start = now - dt.timedelta(days=(index * 3 + number * 5) % 27 + 1)
            trial = status == "TRIAL"
            end = start + dt.timedelta(days=plan.trial_days or 14) if trial else add_period(start, plan.billing_period)
            created_at = start - dt.timedelta(days=30 * (index % 5)) if not trial else start
            subscription = Subscription(
                organization_id=organization_id, product_id=plan.product_id, plan_id=plan.id, status=status,
                license_count=licenses, storage_gb=plan.included_storage_gb, auto_renew=index % 6 != 5,
                current_period_start=start, current_period_end=end, trial_ends_at=end if trial else None,
                created_at=created_at,
            )
            session.add(subscription)
            await session.flush()
            for code, quantity in wanted_add_ons.items():
                if code not in add_ons:
                    continue
                session.add(SubscriptionAddOn(subscription_id=subscription.id, add_on_id=add_ons[code].id,
                                              quantity=quantity))
            session.add(SubscriptionChange(
                subscription_id=subscription.id, kind="ADDED", from_plan_id=plan.id, to_plan_id=plan.id,
                from_licenses=licenses, to_licenses=licenses, details={"trial": trial, "demo": True},
                actor_user_id=None, via="PLATFORM", at=created_at))
            created.setdefault(domain, []).append(subscription.id)
    await session.flush()
    demo.extra["subscriptions"] = created
