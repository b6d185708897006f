"""The renewal tests' kit (no tests here): shared set-up: a world with every product, a ledger processor, subscriptions, the ledger.

Its fixtures `processor` and `products` are in tests/conftest.py.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select

from gateway.db import utcnow
from gateway.hookspecs import hookimpl
from gateway.runtime import Runtime
from plugins.certificates.catalog import ensure_certificate_catalog
from plugins.certificates.service import Item, SubscriptionSpec, create_subscriptions
from schema import models
from schema.billing.processor import IdempotencyKeyReused, PaymentDeclined
from schema.catalog.pricing import add_period
from schema.catalog.service import sync_catalog
from schema.testing import World, build_world, declared_catalogs


class WorkerKilled(Exception):
    """Stands for a worker dying after the processor charged and before the transaction committed."""


class LedgerProcessor:
    """The processor's side of the ledger: one charge per idempotency key; declines or 'crashes' on demand."""

    def __init__(self) -> None:
        self.charges: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []
        self.declining = False
        self.crash_after_charging: str | None = None  # an idempotency key prefix

    @hookimpl(tryfirst=True)
    def gateway_payment_processor(self) -> LedgerProcessor:
        return self

    def charge(self, token: str, amount: Decimal, description: str, idempotency_key: str | None = None,
               currency: str = "USD") -> str:
        assert idempotency_key is not None
        self.calls.append(idempotency_key)
        if self.declining:
            raise PaymentDeclined("Insufficient funds.")
        if idempotency_key not in self.charges:
            self.charges[idempotency_key] = {"amount": amount, "currency": currency, "reference": f"ch_{len(self.charges)}"}
        earlier = self.charges[idempotency_key]
        if (earlier["amount"], earlier["currency"]) != (amount, currency):  # as a real processor: never charged twice
            raise IdempotencyKeyReused(str(earlier["reference"]), earlier["amount"], str(earlier["currency"]))
        if self.crash_after_charging and idempotency_key.startswith(self.crash_after_charging):
            self.crash_after_charging = None
            raise WorkerKilled(idempotency_key)
        return str(self.charges[idempotency_key]["reference"])

    def periods_charged(self) -> Counter[tuple[str, str]]:
        """(subscription, period start) -> how many charges the processor made for it."""
        return Counter((key.split(":")[1], key.split(":")[2]) for key in self.charges)


async def every_product_world(runtime: Runtime) -> World:
    """The standard world, every installed product's catalog, cards on file for acme and direct, no subscriptions."""
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        await sync_catalog(session, declared_catalogs())
        await ensure_certificate_catalog(session)
        await session.execute(delete(models.Subscription))
        for key in ("acme", "direct"):
            session.add(models.PaymentMethod(organization_id=world.organizations[key], owner="CUSTOMER_CARD",
                                             processor_token="tok_visa_renewals", brand="VISA", last4="4242",
                                             exp_month=12, exp_year=2099))
        plans = (await session.execute(select(models.Plan.code, models.Plan.id))).all()
        world.plans.update({code: pk for code, pk in plans})
    return world


async def add_plain(runtime: Runtime, world: World, organization: str, plan_code: str, licenses: int, *,
                    start: dt.datetime, add_ons: dict[str, int] | None = None, auto_renew: bool = True,
                    status: str = "ACTIVE", storage_gb: int | None = None) -> int:
    async with runtime.sessions() as session, session.begin():
        plan = await session.scalar(select(models.Plan).where(models.Plan.code == plan_code))
        assert plan is not None
        end = add_period(start, plan.billing_period)
        row = models.Subscription(
            organization_id=world.organizations[organization], product_id=plan.product_id, plan_id=plan.id,
            status=status, license_count=licenses, storage_gb=storage_gb if storage_gb is not None else plan.included_storage_gb,
            auto_renew=auto_renew, current_period_start=start, current_period_end=end, created_at=start,
            trial_ends_at=end if status == "TRIAL" else None)
        session.add(row)
        await session.flush()
        for code, quantity in (add_ons or {}).items():
            add_on = await session.scalar(select(models.AddOn).where(models.AddOn.code == code))
            assert add_on is not None
            session.add(models.SubscriptionAddOn(subscription_id=row.id, add_on_id=add_on.id, quantity=quantity))
        return row.id


async def add_certificates(runtime: Runtime, world: World, organization: str, items: dict[str, int], *,
                           start: dt.datetime, auto_renew: bool = True) -> int:
    async with runtime.sessions() as session, session.begin():
        [row] = await create_subscriptions(session, organization_id=world.organizations[organization], now=start,
                                           specs=[SubscriptionSpec([Item(c, q) for c, q in items.items()], auto_renew)])
        return row.id


async def ledger(runtime: Runtime) -> list[tuple[int, dt.datetime, str, Decimal, int | None]]:
    """Every renewal charge: (subscription, period start, status, amount, payment id)."""
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(models.RenewalCharge).order_by(models.RenewalCharge.id))).all()
        return [(r.subscription_id, r.period_start, r.status, r.amount, r.payment_id) for r in rows]


async def assert_every_period_charged_once(runtime: Runtime, processor: LedgerProcessor) -> None:
    """Our ledger and the processor's agree: each (subscription, period) charged at most once, and each
    PAID renewal charge is one Payment row of its amount."""
    assert all(count == 1 for count in processor.periods_charged().values()), processor.periods_charged()
    async with runtime.sessions() as session:
        paid = (await session.scalars(select(models.RenewalCharge).where(
            models.RenewalCharge.status == "PAID", models.RenewalCharge.amount > 0))).all()
        payments = {p.id: p for p in (await session.scalars(select(models.Payment))).all()}
        duplicates = (await session.execute(
            select(models.RenewalCharge.subscription_id, models.RenewalCharge.period_start, func.count())
            .group_by(models.RenewalCharge.subscription_id, models.RenewalCharge.period_start)
            .having(func.count() > 1))).all()
    assert duplicates == []
    assert len({c.payment_id for c in paid}) == len(paid)
    for charge in paid:
        assert charge.payment_id is not None and payments[charge.payment_id].amount == charge.amount
    assert len(processor.charges) == len(payments)  # every processor charge is recorded once, none lost


def period_start_of(subscription_id: int, start: dt.datetime) -> tuple[str, str]:
    return (str(subscription_id), f"{start:%Y%m%dT%H%M%SZ}")


def moment(days: float = 0) -> dt.datetime:
    return utcnow().replace(microsecond=0) + dt.timedelta(days=days)
