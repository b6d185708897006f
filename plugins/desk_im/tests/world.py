"""The test world of the desk_im plugin: the standard world plus Desk subscriptions and cards.

acme (mapped to the reseller, delegated access): Desk subscription ``acme_desk``, the
reseller's card (RESELLER_CARD). direct (no partner): Desk subscription ``direct_desk``,
its own card (CUSTOMER_CARD). The catalog's DESK product has DESK_SMS (POSTPAID, 0.05 per
message) and DESK_VOICE_MINUTES (POSTPAID); MAIL has MAIL_EXTRA_STORAGE (PREPAID).
"""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from gateway.runtime import Runtime
from plugins.desk_im import service
from plugins.desk_im.catalog import CATALOG
from plugins.desk_im.settings import load_desk_im_settings
from schema import models
from schema.catalog.declaration import AddOnSpec, ProductSpec
from schema.catalog.service import sync_catalog
from schema.testing import World, build_world

SETTINGS = load_desk_im_settings(credit_price="0.05", max_purchase=1000, charged_channels="WHATSAPP")
# build_world's MAIL product with a PREPAID add-on: usage of a prepaid add-on is refused
MAIL_STORAGE = ProductSpec(code="MAIL", name="Mail", add_ons=(
    AddOnSpec(code="MAIL_EXTRA_STORAGE", name="Mail extra storage", unit_price=Decimal("2.00"), billing="PREPAID",
              unit="10 GB"),))
CARDS = {"acme": ("RESELLER_CARD", "tok_reseller_visa"), "direct": ("CUSTOMER_CARD", "tok_customer_visa")}


@dataclasses.dataclass
class DeskWorld(World):
    run: str = ""  # this test's prefix for idempotency keys: the fake processor remembers keys across tests


async def build_desk_world(runtime: Runtime) -> DeskWorld:
    base = await build_world(runtime)
    world = DeskWorld(**{f.name: getattr(base, f.name) for f in dataclasses.fields(World)}, run=uuid.uuid4().hex[:8])
    async with runtime.sessions() as session, session.begin():
        await sync_catalog(session, {"desk_im": [CATALOG], "tests": [MAIL_STORAGE]})
        desk = await session.scalar(select(models.Product).where(models.Product.code == "DESK"))
        plan = await session.scalar(select(models.Plan).where(models.Plan.code == "DESK_STANDARD"))
        mail_sub = await session.get(models.Subscription, world.subscriptions["acme_mail"])
        world.products["DESK"] = desk.id
        world.plans["DESK_STANDARD"] = plan.id
        for org in ("acme", "direct"):
            sub = models.Subscription(
                organization_id=world.organizations[org], product_id=desk.id, plan_id=plan.id, status="ACTIVE",
                license_count=5, storage_gb=5, auto_renew=True, current_period_start=mail_sub.current_period_start,
                current_period_end=mail_sub.current_period_end,
            )
            session.add(sub)
            await session.flush()
            world.subscriptions[f"{org}_desk"] = sub.id
            owner, token = CARDS[org]
            card = await session.scalar(select(models.PaymentMethod).where(
                models.PaymentMethod.organization_id == world.organizations[org]))
            if card is None:
                session.add(models.PaymentMethod(organization_id=world.organizations[org], owner=owner,
                                                 processor_token=token, brand="visa", last4="4242", exp_month=12,
                                                 exp_year=2099, holder_name=f"{org} card"))
            else:
                card.owner, card.processor_token, card.exp_year = owner, token, 2099
    return world


async def set_card_token(runtime: Runtime, organization_id: int, token: str | None) -> None:
    """Replace the card's processor token (``tok_decline`` declines), or remove the card (None)."""
    async with runtime.sessions() as session, session.begin():
        card = await session.scalar(select(models.PaymentMethod).where(
            models.PaymentMethod.organization_id == organization_id))
        if token is None:
            await session.delete(card)
        else:
            card.processor_token = token


async def give_credits(runtime: Runtime, organization_id: int, credits: int) -> None:
    async with runtime.sessions() as session, session.begin():
        await service.adjust_credits(session, organization_id, credits, "test credits")


async def balance(runtime: Runtime, organization_id: int) -> int:
    async with runtime.sessions() as session:
        return await service.balance_of(session, organization_id)


async def count_rows(runtime: Runtime, model: Any, **where: Any) -> int:
    async with runtime.sessions() as session:
        stmt = select(model)
        for name, value in where.items():
            stmt = stmt.where(getattr(model, name) == value)
        return len((await session.scalars(stmt)).all())


async def in_transaction(runtime: Runtime, token: str | None, work: Any) -> Any:
    """Run ``work(ctx)`` in one committed transaction as the token's viewer (service-level tests)."""
    async with runtime.context(token=token) as ctx:
        async with ctx.transaction():
            return await work(ctx)


def key(world: DeskWorld, name: str) -> str:
    """An idempotency key unique to this test run (the same name twice in one test is the same key)."""
    return f"{world.run}-{name}"
