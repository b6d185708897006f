"""A price change never changes what existing periods were charged: each subscription's current period
keeps the prices it was charged at; new list prices apply to periods that start later, to a plan taken
on mid-period and to an add-on added mid-period. Exact amounts, worked out by hand in each test.

The world: direct_mail is 10 × MAIL_STANDARD (4.00, 5 GB included, 0.50 per GB above) on a 30-day
April period; MAIL_PREMIUM is 8.00, MAIL_STANDARD_YEARLY 40.00 a year, MAIL_EXTRA_STORAGE 2.00 per unit.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection, select, text, update

from gateway.migrations import alembic_config, schema_diff, upgrade_heads
from gateway.plugins import create_plugin_manager
from gateway.testing import fresh_database, run_query
from schema import models
from schema.access import authorize_organization
from schema.subscriptions import service
from schema.testing import World, build_world

UTC = dt.UTC
START = dt.datetime(2026, 4, 1, tzinfo=UTC)
END = dt.datetime(2026, 5, 1, tzinfo=UTC)  # a 30-day period
CHANGE_PLAN = """mutation($input: ChangePlanPriceInput!) { changePlanPrice(input: $input) { userErrors { code } } }"""
CHANGE_ADD_ON = """mutation($input: ChangeAddOnPriceInput!) { changeAddOnPrice(input: $input) { userErrors { code } } }"""


async def setup_world(runtime: Any) -> World:
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        mail = world.products["MAIL"]
        known = set((await session.scalars(select(models.Plan.code))).all())
        if "MAIL_STANDARD_YEARLY" not in known:
            session.add(models.Plan(product_id=mail, code="MAIL_STANDARD_YEARLY", name="Mail Standard (yearly)",
                                    price_per_license=Decimal("40.00"), currency="USD", billing_period="YEARLY",
                                    included_storage_gb=10, trial_days=15, rank=1, storage_price_per_gb=Decimal("5.00")))
        if await session.scalar(select(models.AddOn.id).where(models.AddOn.code == "MAIL_EXTRA_STORAGE")) is None:
            session.add(models.AddOn(product_id=mail, code="MAIL_EXTRA_STORAGE", name="Mail extra storage",
                                     unit_price=Decimal("2.00"), currency="USD", billing="PREPAID", unit="10 GB"))
        session.add(models.PaymentMethod(organization_id=world.organizations["direct"], owner="CUSTOMER_CARD",
                                         processor_token="tok_ok", brand="VISA", last4="4242", exp_month=12,
                                         exp_year=2099))
        await session.execute(update(models.Subscription).values(current_period_start=START, current_period_end=END))
    return world


async def plan_price(runtime: Any, world: World, code: str, *, per_license: str | None = None,
                     per_gb: str | None = None) -> None:
    money = {"pricePerLicense": per_license, "storagePricePerGb": per_gb}
    result = (await run_query(runtime, CHANGE_PLAN, {"input": {
        "planCode": code, "reason": "new price list",
        **{k: {"amount": v, "currency": "USD"} for k, v in money.items() if v is not None}}},
        token=world.tokens["platform_admin"])).ok()
    assert result["changePlanPrice"]["userErrors"] == []


async def add_on_price(runtime: Any, world: World, code: str, amount: str) -> None:
    result = (await run_query(runtime, CHANGE_ADD_ON, {"input": {
        "addOnCode": code, "unitPrice": {"amount": amount, "currency": "USD"}, "reason": "new price list"}},
        token=world.tokens["platform_admin"])).ok()
    assert result["changeAddOnPrice"]["userErrors"] == []


async def change(runtime: Any, world: World, at: dt.datetime, **kwargs: Any) -> models.Subscription:
    async with runtime.context(token=world.tokens["direct_super_admin"]) as ctx, ctx.transaction():
        decision = await authorize_organization(ctx, "subscription.change", world.organizations["direct"])
        return await service.change_subscription(ctx, decision, world.subscriptions["direct_mail"], now=at, **kwargs)


async def lines(runtime: Any) -> list[tuple[str, Decimal]]:
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(models.InvoiceLine).order_by(models.InvoiceLine.id))).all()
    return [(row.description, row.amount) for row in rows]


async def locked(runtime: Any, subscription_id: int) -> tuple[Decimal, Decimal, dict[str, Decimal]]:
    async with runtime.sessions() as session:
        subscription = await session.get(models.Subscription, subscription_id)
        assert subscription is not None
        add_ons = (await session.execute(select(models.AddOn.code, models.SubscriptionAddOn.period_unit_price)
                                         .join(models.AddOn).where(models.SubscriptionAddOn.subscription_id == subscription_id))).all()
    return subscription.period_price_per_license, subscription.period_storage_price_per_gb, dict(add_ons)


# ---------------------------------------------------------------- mid-period changes after a price change
async def test_a_plan_change_credits_the_locked_price_and_charges_the_new_plans_current_price(runtime: Any) -> None:
    world = await setup_world(runtime)
    await plan_price(runtime, world, "MAIL_STANDARD", per_license="5.00")
    await plan_price(runtime, world, "MAIL_PREMIUM", per_license="10.00")
    await change(runtime, world, dt.datetime(2026, 4, 16, tzinfo=UTC), plan_code="MAIL_PREMIUM")  # 15 of 30 days left
    # the rest of the period: 10 × 10.00 (Premium now) - 10 × 4.00 (charged on April 1) = 60.00 × 15/30
    # (at today's Standard price the credit would be 10 × 5.00 and the line 25.00)
    assert await lines(runtime) == [("Pro-rated increase: Mail Premium: 10 licenses (was Mail Standard: 10 licenses), "
                                     "15 days left in the period", Decimal("30.00"))]
    assert (await locked(runtime, world.subscriptions["direct_mail"]))[0] == Decimal("10.0000")

    # Premium's list price moves again; the period keeps the 10.00 it is charged now
    await plan_price(runtime, world, "MAIL_PREMIUM", per_license="12.00")
    await change(runtime, world, dt.datetime(2026, 4, 21, tzinfo=UTC), license_count=12)  # 10 of 30 days left
    # 2 more licenses × 10.00 = 20.00 × 10/30
    assert (await lines(runtime))[-1][1] == Decimal("6.67")
    assert (await locked(runtime, world.subscriptions["direct_mail"]))[0] == Decimal("10.0000")


async def test_more_licenses_and_storage_keep_the_period_price(runtime: Any) -> None:
    world = await setup_world(runtime)
    await plan_price(runtime, world, "MAIL_STANDARD", per_license="5.00", per_gb="1.00")
    await change(runtime, world, dt.datetime(2026, 4, 21, 15, tzinfo=UTC), license_count=16, storage_gb=35)
    # 6 more licenses × 4.00 = 24.00 and 30 GB above the included 5 × 0.50 = 15.00, each × 10/30
    assert [amount for _, amount in await lines(runtime)] == [Decimal("8.00"), Decimal("5.00")]
    assert (await locked(runtime, world.subscriptions["direct_mail"]))[:2] == (Decimal("4.0000"), Decimal("0.5000"))


async def test_an_add_on_added_now_takes_its_list_price_and_keeps_it_for_the_period(runtime: Any) -> None:
    world = await setup_world(runtime)
    await add_on_price(runtime, world, "MAIL_EXTRA_STORAGE", "3.00")
    now = dt.datetime(2026, 4, 25, tzinfo=UTC)  # 6 of 30 days left
    await change(runtime, world, now, add_ons=[service.AddOnRequest("MAIL_EXTRA_STORAGE", 5)])
    assert (await locked(runtime, world.subscriptions["direct_mail"]))[2] == {"MAIL_EXTRA_STORAGE": Decimal("3.0000")}
    await add_on_price(runtime, world, "MAIL_EXTRA_STORAGE", "4.00")
    await change(runtime, world, now, add_ons=[service.AddOnRequest("MAIL_EXTRA_STORAGE", 1)])
    # 5 × 3.00 = 15.00 × 6/30 = 3.00; then 4 fewer at the 3.00 charged: -12.00 × 6/30 (not -16.00 × 6/30)
    assert [amount for _, amount in await lines(runtime)] == [Decimal("3.00"), Decimal("-2.40")]
    assert (await locked(runtime, world.subscriptions["direct_mail"]))[2] == {"MAIL_EXTRA_STORAGE": Decimal("3.0000")}


async def test_a_switch_of_billing_period_credits_the_locked_price_and_starts_at_list_prices(runtime: Any) -> None:
    world = await setup_world(runtime)
    await plan_price(runtime, world, "MAIL_STANDARD", per_license="5.00")
    await plan_price(runtime, world, "MAIL_STANDARD_YEARLY", per_license="42.00")
    now = dt.datetime(2026, 4, 16, tzinfo=UTC)
    changed = await change(runtime, world, now, plan_code="MAIL_STANDARD_YEARLY")
    # credit: 10 × 4.00 (charged on April 1) × 15/30 ; the new yearly period: 10 × 42.00
    assert [amount for _, amount in await lines(runtime)] == [Decimal("-20.00"), Decimal("420.00")]
    assert changed.current_period_start == now
    assert (await locked(runtime, world.subscriptions["direct_mail"]))[:2] == (Decimal("42.0000"), Decimal("5.0000"))


async def test_new_and_purchased_subscriptions_lock_the_list_price_in_force_then(runtime: Any) -> None:
    world = await setup_world(runtime)

    async def act(fn: Any) -> models.Subscription:
        async with runtime.context(token=world.tokens["direct_super_admin"]) as ctx, ctx.transaction():
            action = "subscription.add" if fn is add else "subscription.purchase"
            decision = await authorize_organization(ctx, action, world.organizations["direct"])
            result: models.Subscription = await fn(ctx, decision)
            return result

    def add(ctx: Any, decision: Any) -> Any:
        return service.add_subscription(ctx, decision, world.organizations["direct"], plan_code="MAIL_PREMIUM",
                                        license_count=3, trial=True, now=START,
                                        add_ons=[service.AddOnRequest("MAIL_EXTRA_STORAGE", 2)])

    trial = await act(add)
    assert await locked(runtime, trial.id) == (Decimal("8.0000"), Decimal("0.5000"), {"MAIL_EXTRA_STORAGE": Decimal("2.0000")})
    await plan_price(runtime, world, "MAIL_PREMIUM", per_license="10.00")
    await add_on_price(runtime, world, "MAIL_EXTRA_STORAGE", "2.50")
    await act(lambda ctx, decision: service.purchase_subscription(ctx, decision, trial.id, now=START))
    async with runtime.sessions() as session:
        [payment] = (await session.scalars(select(models.Payment))).all()
    assert payment.amount == Decimal("35.00")  # 3 × 10.00 + 2 × 2.50, the prices when the paid period starts
    assert await locked(runtime, trial.id) == (Decimal("10.0000"), Decimal("0.5000"), {"MAIL_EXTRA_STORAGE": Decimal("2.5000")})
    await plan_price(runtime, world, "MAIL_PREMIUM", per_license="11.00")
    assert (await locked(runtime, trial.id))[0] == Decimal("10.0000")


async def test_rows_inserted_without_period_prices_take_the_list_prices(runtime: Any) -> None:
    """build_world inserts subscriptions directly; so do plugins and demo seeds."""
    world = await setup_world(runtime)
    async with runtime.sessions() as session, session.begin():
        add_on = await session.scalar(select(models.AddOn).where(models.AddOn.code == "MAIL_EXTRA_STORAGE"))
        assert add_on is not None
        session.add(models.SubscriptionAddOn(subscription_id=world.subscriptions["acme_mail"], add_on_id=add_on.id,
                                             quantity=1))
    assert await locked(runtime, world.subscriptions["acme_mail"]) == (
        Decimal("4.0000"), Decimal("0.5000"), {"MAIL_EXTRA_STORAGE": Decimal("2.0000")})


# ---------------------------------------------------------------- the upcoming invoice and MRR
INVOICE = """query($id: ID!) { organization(id: $id) { upcomingInvoice { lines { description amount { amount } prorated } } } }"""
STATS = """{ subscriptionStats(groupBy: [PLAN]) { plan { code } subscriptions monthlyRecurringRevenue { amount } } }"""


async def test_the_upcoming_invoice_charges_the_next_period_at_the_list_price(runtime: Any) -> None:
    world = await setup_world(runtime)
    await plan_price(runtime, world, "MAIL_STANDARD", per_license="5.00")
    await change(runtime, world, dt.datetime(2026, 4, 16, tzinfo=UTC), license_count=12)
    data = (await run_query(runtime, INVOICE, {"id": world.org_id("direct")},
                            token=world.tokens["direct_super_admin"])).ok()
    got = [(line["description"].split(",")[0], line["amount"]["amount"], line["prorated"])
           for line in data["organization"]["upcomingInvoice"]["lines"]]
    # the next period (from May 1) at today's price: 12 × 5.00; the pending pro-ration at April's 4.00: 2 × 4.00 × 15/30
    assert got == [("Mail Standard: 12 licenses", "60.00", False),
                   ("Pro-rated increase: Mail Standard: 12 licenses (was Mail Standard: 10 licenses)", "4.00", True)]


async def test_recurring_revenue_is_what_current_periods_are_charged(runtime: Any) -> None:
    world = await setup_world(runtime)

    async def mrr() -> dict[str, tuple[int, str]]:
        data = (await run_query(runtime, STATS, token=world.tokens["platform_admin"])).ok()
        return {row["plan"]["code"]: (row["subscriptions"], row["monthlyRecurringRevenue"]["amount"])
                for row in data["subscriptionStats"]}

    assert await mrr() == {"MAIL_STANDARD": (2, "80.00")}  # 2 × 10 × 4.00
    await plan_price(runtime, world, "MAIL_STANDARD", per_license="5.00")
    await plan_price(runtime, world, "MAIL_PREMIUM", per_license="9.00")
    assert await mrr() == {"MAIL_STANDARD": (2, "80.00")}  # no period was charged the new price yet
    await change(runtime, world, dt.datetime(2026, 4, 16, tzinfo=UTC), plan_code="MAIL_PREMIUM")
    assert await mrr() == {"MAIL_STANDARD": (1, "40.00"), "MAIL_PREMIUM": (1, "90.00")}


# ---------------------------------------------------------------- the migration's backfill

BEFORE = "677490bf8734"  # the core revision before the price history
ROWS = [
    "INSERT INTO products (id, code, name) VALUES (1, 'MAIL', 'Mail')",
    "INSERT INTO plans (id, product_id, code, name, price_per_license, currency, billing_period, included_storage_gb,"
    " trial_days, rank, storage_price_per_gb) VALUES (1, 1, 'A', 'A', 4.5, 'USD', 'MONTHLY', 5, 0, 1, 0.25),"
    " (2, 1, 'B', 'B', 9, 'USD', 'MONTHLY', 5, 0, 2, 0.125)",
    "INSERT INTO add_ons (id, product_id, code, name, unit_price, currency, billing, unit)"
    " VALUES (1, 1, 'X', 'X', 2.0025, 'USD', 'PREPAID', 'GB')",
    "INSERT INTO organizations (id, name, domain, domain_verified, domain_verification_code, status, created_at)"
    " VALUES (1, 'O', 'o.example', true, 'c', 'ACTIVE', '2026-01-01 00:00:00+00')",
    "INSERT INTO subscriptions (id, organization_id, product_id, plan_id, status, license_count, storage_gb, auto_renew,"
    " current_period_start, current_period_end, created_at, version) VALUES"
    " (1, 1, 1, 1, 'ACTIVE', 3, 5, true, '2026-01-01 00:00:00+00', '2026-02-01 00:00:00+00', '2026-01-01 00:00:00+00', 1),"
    " (2, 1, 1, 2, 'TRIAL', 1, 5, true, '2026-01-01 00:00:00+00', '2026-02-01 00:00:00+00', '2026-01-01 00:00:00+00', 1)",
    "INSERT INTO subscription_add_ons (id, subscription_id, add_on_id, quantity) VALUES (1, 1, 1, 4)",
    "INSERT INTO subscription_changes (id, subscription_id, kind, details, at)"
    " VALUES (1, 1, 'ADDED', '{}', '2026-01-01 00:00:00+00')",
    "INSERT INTO invoice_lines (id, organization_id, subscription_id, description, amount, currency, prorated, source,"
    " created_at) VALUES (1, 1, 1, 'Pro-rated increase', 2.5, 'USD', true, 'core', '2026-01-01 00:00:00+00')",
]


async def test_the_migration_fills_current_periods_with_todays_list_prices(backend: str, tmp_path: Path) -> None:
    pm = create_plugin_manager(["core"])
    async with fresh_database(backend, tmp_path, "backfill") as (engine, url):
        config = alembic_config(pm, url)

        def before(connection: Connection) -> None:
            config.attributes["connection"] = connection
            command.upgrade(config, BEFORE)
            for statement in ROWS:
                connection.execute(text(statement))

        async with engine.begin() as connection:
            await connection.run_sync(before)
        await upgrade_heads(pm, engine, url)
        assert await schema_diff(pm, engine) == []
        async with engine.connect() as connection:
            subscriptions = (await connection.execute(text(
                "SELECT id, period_price_per_license, period_storage_price_per_gb FROM subscriptions ORDER BY id"))).all()
            add_ons = (await connection.execute(text("SELECT period_unit_price FROM subscription_add_ons"))).all()
            history = (await connection.execute(text("SELECT count(*) FROM catalog_price_changes"))).scalar()
            # the columns are added in place: nothing that hangs off subscriptions is lost (no cascade)
            kept = [(await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
                    for table in ("subscription_changes", "invoice_lines")]
    assert [(pk, Decimal(str(a)), Decimal(str(b))) for pk, a, b in subscriptions] == [
        (1, Decimal("4.5"), Decimal("0.25")), (2, Decimal("9"), Decimal("0.125"))]
    assert [Decimal(str(a)) for (a,) in add_ons] == [Decimal("2.0025")]
    assert history == 0 and kept == [1, 1]
