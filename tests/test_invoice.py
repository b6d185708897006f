"""Organization.upcomingInvoice: recurring charges, pending pro-rations and credits, plugins' lines, totals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from gateway.db import utcnow
from gateway.hookspecs import hookimpl
from gateway.testing import clear_tables, create_tables, make_test_runtime, run_query
from schema import models
from schema.billing.invoice import PreviewLine, summarize
from schema.catalog.service import sync_catalog
from schema.testing import build_world, declared_catalogs

INVOICE = """query($id: ID!) { organization(id: $id) { upcomingInvoice { periodEnd
  lines { description amount { amount currency } prorated subscription { plan { code } } }
  total { amount currency } totals { amount currency } } } }"""


async def invoice(runtime: Any, world: Any, org: str = "acme", token: str = "reseller_admin") -> dict[str, Any]:
    data = (await run_query(runtime, INVOICE, {"id": world.org_id(org)}, token=world.tokens[token])).ok()
    return data["organization"]["upcomingInvoice"]


async def test_recurring_charges_and_pending_lines(runtime: Any) -> None:
    world = await build_world(runtime)
    end = dt.datetime(2030, 1, 15, tzinfo=dt.UTC)
    async with runtime.sessions() as session, session.begin():
        await sync_catalog(session, declared_catalogs())  # every installed plugin's products
        await session.execute(update(models.Subscription).where(models.Subscription.id == world.subscriptions["acme_mail"])
                              .values(current_period_end=end, storage_gb=9))
        storage = await session.scalar(select(models.AddOn).where(models.AddOn.code == "MAIL_EXTRA_STORAGE"))
        session.add(models.SubscriptionAddOn(subscription_id=world.subscriptions["acme_mail"], add_on_id=storage.id,
                                             quantity=3))
        # a suspended subscription is not billed
        session.add(models.Subscription(organization_id=world.organizations["acme"], product_id=world.products["MAIL"],
                                        plan_id=world.plans["MAIL_PREMIUM"], status="SUSPENDED", license_count=99,
                                        current_period_start=end - dt.timedelta(days=60), current_period_end=end - dt.timedelta(days=30)))
        session.add(models.InvoiceLine(organization_id=world.organizations["acme"], subscription_id=world.subscriptions["acme_mail"],
                                       description="Pro-rated increase", amount=Decimal("8.00"), currency="USD", prorated=True))
        session.add(models.InvoiceLine(organization_id=world.organizations["acme"], subscription_id=None,
                                       description="Pro-rated credit", amount=Decimal("-2.50"), currency="USD", prorated=True))
        session.add(models.InvoiceLine(organization_id=world.organizations["acme"], description="already invoiced",
                                       amount=Decimal("100"), currency="USD", invoiced_at=utcnow()))
    preview = await invoice(runtime, world)
    assert preview["periodEnd"].startswith("2030-01-15")
    amounts = [(line["description"].split(",")[0], line["amount"]["amount"], line["prorated"]) for line in preview["lines"]]
    # 10 × 4.00 ; (9 - 5) GB × 0.50 ; 3 × 2.00 ; then the pending lines, oldest first
    assert amounts == [("Mail Standard: 10 licenses", "40.00", False),
                       ("Mail Standard: 4 GB storage above the included 5 GB", "2.00", False),
                       ("Mail extra storage: 3 × 10 GB", "6.00", False),
                       ("Pro-rated increase", "8.00", True), ("Pro-rated credit", "-2.50", True)]
    assert preview["lines"][0]["subscription"]["plan"]["code"] == "MAIL_STANDARD"
    assert preview["lines"][4]["subscription"] is None
    assert preview["total"] == {"amount": "53.50", "currency": "USD"}
    assert preview["totals"] == [{"amount": "53.50", "currency": "USD"}]


async def test_without_active_subscriptions_the_period_ends_in_a_month(runtime: Any) -> None:
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.Subscription).values(status="CANCELLED"))
    preview = await invoice(runtime, world, "direct", "direct_super_admin")
    ends = dt.datetime.fromisoformat(preview["periodEnd"])
    assert dt.timedelta(days=27) < ends - utcnow() <= dt.timedelta(days=31)
    assert preview["lines"] == [] and preview["total"] == {"amount": "0.00", "currency": "USD"}


def test_totals_per_currency_are_never_converted() -> None:
    lines = [PreviewLine("a", Decimal("10"), "USD", False, None), PreviewLine("b", Decimal("5"), "EUR", False, None),
             PreviewLine("c", Decimal("-1.5"), "USD", True, None), PreviewLine("d", Decimal("7"), "EUR", False, None),
             PreviewLine("e", Decimal("1"), "GBP", False, None)]
    total, totals = summarize(lines)
    # EUR and USD have two lines each: the tie goes to EUR (alphabetical)
    assert total == (Decimal("12.00"), "EUR")
    assert totals == [(Decimal("12.00"), "EUR"), (Decimal("1.00"), "GBP"), (Decimal("8.50"), "USD")]
    assert summarize([]) == ((Decimal("0.00"), "USD"), [])


@dataclass
class Line:
    description: str
    amount: Decimal
    currency: str
    prorated: bool
    subscription_id: int | None


class InvoicePlugin:
    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    @hookimpl
    def gateway_invoice_lines(self, ctx: Any, organization_ids: list[int]) -> Any:
        self.calls.append(sorted(organization_ids))

        async def lines() -> dict[int, list[Any]]:
            return {pk: [Line("Usage: 100 SMS", Decimal("5.00"), "USD", False, None),
                         {"description": "Cert renewal", "amount": "3.333", "currency": "EUR", "prorated": True,
                          "subscription_id": None}]
                    for pk in organization_ids}

        return lines()


async def test_plugin_lines_are_collected_in_one_batched_call(runtime: Any) -> None:
    backend = "sqlite" if runtime.settings.is_sqlite else "postgres"
    plugin = InvoicePlugin()
    with_plugin = make_test_runtime(backend, plugins=[], extra_plugins=[("invoice_test", plugin)])
    try:
        await create_tables(with_plugin)
        await clear_tables(with_plugin)
        world = await build_world(with_plugin)
        query = """{ organizations(first: 10) { nodes { domain upcomingInvoice {
            lines { description amount { amount currency } prorated } total { amount currency } totals { amount currency } } } } }"""
        data = (await run_query(with_plugin, query, token=world.tokens["platform_admin"])).ok()
        assert len(plugin.calls) == 1 and len(plugin.calls[0]) == 3  # one call for every organization of the level
        acme = next(n for n in data["organizations"]["nodes"] if n["domain"] == "acme.example")["upcomingInvoice"]
        assert acme["lines"][-2:] == [
            {"description": "Usage: 100 SMS", "amount": {"amount": "5.00", "currency": "USD"}, "prorated": False},
            {"description": "Cert renewal", "amount": {"amount": "3.33", "currency": "EUR"}, "prorated": True}]
        assert acme["total"] == {"amount": "45.00", "currency": "USD"}  # 40.00 recurring + 5.00 usage
        assert acme["totals"] == [{"amount": "3.33", "currency": "EUR"}, {"amount": "45.00", "currency": "USD"}]
    finally:
        await clear_tables(with_plugin)
        await with_plugin.dispose()
