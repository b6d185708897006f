"""Demo credit accounts: purchases and message usage for every demo organization with a Desk subscription.

Idempotent: an organization that already has a credit account is left alone. Purchases
are recorded with a Payment row like a real purchase (tagged with the card owner of the
organization's card); an organization without a card gets welcome credits (ADJUSTMENT).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import utcnow
from gateway.demo import DemoData
from plugins.desk_im.models import ImCreditAccount
from plugins.desk_im.service import (
    DESK_PRODUCT,
    LIVE_SUBSCRIPTION,
    add_purchased_credits,
    adjust_credits,
    consume_credits,
    credit_price,
)
from plugins.desk_im.settings import load_desk_im_settings
from schema.models import Organization, PartnerMember, Payment, PaymentMethod, Product, Subscription

# (days ago, what): a purchase of N credits, or N messages on a channel
HISTORY: list[tuple[int, str, str | None, int]] = [
    (40, "purchase", None, 500),
    (33, "usage", "WHATSAPP", 120),
    (30, "usage", "TELEGRAM", 80),
    (21, "usage", "WHATSAPP", 210),
    (14, "purchase", None, 1000),
    (9, "usage", "INSTAGRAM", 35),
    (5, "usage", "WHATSAPP", 340),
    (1, "usage", "WHATSAPP", 45),
]


async def seed_demo(session: AsyncSession, demo: DemoData) -> None:
    settings = load_desk_im_settings()
    with_accounts = set((await session.scalars(select(ImCreditAccount.organization_id))).all())
    organizations = (await session.execute(
        select(Organization.id, Organization.partner_id).where(Organization.id.in_(
            select(Subscription.organization_id).join(Product, Product.id == Subscription.product_id)
            .where(Product.code == DESK_PRODUCT, Subscription.status.in_(LIVE_SUBSCRIPTION))
        )).order_by(Organization.id)
    )).all()
    now = utcnow().replace(microsecond=0)
    seeded = []
    for organization_id, partner_id in organizations:
        if organization_id in with_accounts:
            continue
        card = await session.scalar(select(PaymentMethod).where(PaymentMethod.organization_id == organization_id))
        buyer = await session.scalar(
            select(PartnerMember.user_id).where(PartnerMember.partner_id == partner_id,
                                                PartnerMember.role == "PARTNER_ADMIN").order_by(PartnerMember.id)
            .limit(1)) if partner_id else None
        service_user = demo.users.get("messaging@platform.example")
        for days_ago, what, channel, quantity in HISTORY:
            at = now - dt.timedelta(days=days_ago)
            if what == "purchase" and card is not None:
                payment = Payment(organization_id=organization_id, amount=credit_price(settings, quantity),
                                  currency=settings.currency, card_owner=card.owner,
                                  description=f"{quantity} instant-messaging credits (Desk)",
                                  processor_reference=f"demo_desk_im_{organization_id}_{days_ago}", created_at=at)
                session.add(payment)
                await session.flush()
                entry = await add_purchased_credits(session, organization_id, quantity, payment, actor_user_id=buyer)
            elif what == "purchase":
                entry = await adjust_credits(session, organization_id, quantity, "Welcome credits (demo)",
                                             actor_user_id=None)
            else:
                assert channel is not None, "every usage line of HISTORY names its channel"
                entry = await consume_credits(session, organization_id, channel, quantity, settings=settings,
                                              actor_user_id=service_user)
            entry.transaction.at = at
        seeded.append(organization_id)
    await session.flush()
    demo.extra["desk_im_accounts"] = seeded
