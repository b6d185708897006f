"""The demo seed: credit accounts with purchases and usage for Desk customers; seeding twice changes nothing."""

from __future__ import annotations

from sqlalchemy import func, select

from gateway.demo import seed_demo
from plugins.desk_im.models import ImCreditAccount, ImCreditTransaction
from plugins.desk_im.service import DESK_PRODUCT, LIVE_SUBSCRIPTION
from schema import models


async def test_demo_seed_gives_desk_customers_a_credit_history_once(runtime):
    demo = await seed_demo(runtime)
    async with runtime.sessions() as session:
        desk_orgs = set((await session.scalars(
            select(models.Subscription.organization_id).join(models.Product)
            .where(models.Product.code == DESK_PRODUCT, models.Subscription.status.in_(LIVE_SUBSCRIPTION)))).all())
        accounts = {a.organization_id: a.balance for a in (await session.scalars(select(ImCreditAccount))).all()}
        kinds = dict((await session.execute(select(ImCreditTransaction.kind, func.count())
                                            .group_by(ImCreditTransaction.kind))).all())
        purchases = (await session.scalars(select(ImCreditTransaction).where(
            ImCreditTransaction.kind == "PURCHASE"))).all()
        rows = await session.scalar(select(func.count()).select_from(ImCreditTransaction))
    assert desk_orgs, "the core demo has Desk customers"
    assert set(accounts) == desk_orgs == set(demo.extra["desk_im_accounts"])
    assert all(balance > 0 for balance in accounts.values())
    assert kinds["USAGE"] > 0 and kinds.get("PURCHASE", 0) + kinds.get("ADJUSTMENT", 0) > 0
    assert all(p.card_owner in ("RESELLER_CARD", "CUSTOMER_CARD") and p.payment_id for p in purchases)

    again = await seed_demo(runtime)
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ImCreditTransaction)) == rows
        assert await session.scalar(select(func.count()).select_from(ImCreditAccount)) == len(accounts)
    assert again.extra["desk_im_accounts"] == []
