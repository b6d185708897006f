"""The upcoming invoice of many organizations at once: recurring charges, pending lines, plugins' lines.

Totals and currencies: lines are never converted. ``totals`` has one sum per currency;
``total`` is the sum in the invoice currency, the currency most lines are in (ties broken
alphabetically; USD when there are no lines). With the standard catalog every line is USD.

Prices: the recurring lines are the next period's, charged at the list prices in force when it
starts: today's list prices (a price change applies from the next period on). The current
period's locked prices only matter to pro-rations, already pending as invoice lines.

Scheduled changes: the next period is priced with the subscription's scheduled change applied
(plan, licenses, storage, add-ons; its lines say "scheduled change"), while the current period's
pending lines (pro-rations of immediate changes) stay as they are. A PAST_DUE subscription's unpaid
renewal is a line of its own ("Past due: ...") and its next period is listed too.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from gateway.context import Context
from gateway.db import utcnow
from gateway.plugins import call_hook
from schema.billing.hookspecs import ComputedInvoiceLine
from schema.catalog.pricing import PeriodPrices, add_period, period_charges
from schema.common import round_money
from schema.models import (
    AddOn,
    InvoiceLine,
    Plan,
    RenewalCharge,
    ScheduledSubscriptionChange,
    Subscription,
    SubscriptionAddOn,
)

DEFAULT_CURRENCY = "USD"


@dataclass(frozen=True)
class PreviewLine:
    description: str
    amount: Decimal
    currency: str
    prorated: bool
    subscription_id: int | None


@dataclass(frozen=True)
class Preview:
    period_end: dt.datetime
    lines: list[PreviewLine]
    total: tuple[Decimal, str]
    totals: list[tuple[Decimal, str]]


# A plugin's computed line: an object with ComputedInvoiceLine's attributes (the contract), or a dict of them.
PluginLine = ComputedInvoiceLine | Mapping[str, Any]


def _line(raw: PluginLine) -> PreviewLine:
    def get(name: str, default: object = None) -> Any:
        return raw.get(name, default) if isinstance(raw, dict) else getattr(raw, name, default)

    return PreviewLine(description=str(get("description")), amount=round_money(Decimal(str(get("amount")))),
                       currency=str(get("currency", DEFAULT_CURRENCY)).upper(), prorated=bool(get("prorated", False)),
                       subscription_id=get("subscription_id"))


def summarize(lines: list[PreviewLine]) -> tuple[tuple[Decimal, str], list[tuple[Decimal, str]]]:
    sums: dict[str, Decimal] = {}
    for line in lines:
        sums[line.currency] = sums.get(line.currency, Decimal("0")) + line.amount
    counts = Counter(line.currency for line in lines)
    currency = min(counts, key=lambda c: (-counts[c], c)) if counts else DEFAULT_CURRENCY
    totals = [(round_money(sums[c]), c) for c in sorted(sums)]
    return (round_money(sums.get(currency, Decimal("0"))), currency), totals


async def upcoming_invoices(ctx: Context, organization_ids: list[int], now: dt.datetime | None = None) -> dict[int, Preview]:
    """Each organization's next invoice, in a fixed number of statements whatever the number of organizations."""
    now = now or utcnow()
    if not organization_ids:
        return {}
    session = ctx.session
    subscriptions = (await session.scalars(
        select(Subscription).where(Subscription.organization_id.in_(organization_ids),
                                   Subscription.status.in_(("ACTIVE", "PAST_DUE")))
        .order_by(Subscription.organization_id, Subscription.id))).all()
    # Always the same statements (even for empty id lists), so the count depends on the query's shape only.
    scheduled = {row.subscription_id: row for row in (await session.scalars(
        select(ScheduledSubscriptionChange).where(
            ScheduledSubscriptionChange.subscription_id.in_([s.id for s in subscriptions])))).all()}
    plan_ids = {s.plan_id for s in subscriptions} | {c.plan_id for c in scheduled.values() if c.plan_id is not None}
    plans = {p.id: p for p in (await session.scalars(select(Plan).where(Plan.id.in_(plan_ids)))).all()}
    add_ons: dict[int, list[tuple[AddOn, int]]] = {}
    rows = (await session.execute(
        select(SubscriptionAddOn.subscription_id, AddOn, SubscriptionAddOn.quantity)
        .join(AddOn, AddOn.id == SubscriptionAddOn.add_on_id)
        .where(SubscriptionAddOn.subscription_id.in_([s.id for s in subscriptions]))
        .order_by(SubscriptionAddOn.id))).all()
    for subscription_id, add_on, quantity in rows:
        add_ons.setdefault(subscription_id, []).append((add_on, quantity))
    scheduled_codes = sorted({code for c in scheduled.values() for code in (c.add_ons or {})})
    catalog_add_ons = {a.code: a for a in (await session.scalars(
        select(AddOn).where(AddOn.code.in_(scheduled_codes)))).all()}
    unpaid = (await session.scalars(
        select(RenewalCharge).where(RenewalCharge.organization_id.in_(organization_ids),
                                    RenewalCharge.status == "PENDING")
        .order_by(RenewalCharge.organization_id, RenewalCharge.id))).all()
    pending = (await session.scalars(
        select(InvoiceLine).where(InvoiceLine.organization_id.in_(organization_ids), InvoiceLine.invoiced_at.is_(None))
        .order_by(InvoiceLine.organization_id, InvoiceLine.id))).all()
    from_plugins: dict[int, list[PluginLine]] = {}
    for answer in await call_hook(ctx.hooks.gateway_invoice_lines, ctx=ctx, organization_ids=list(organization_ids)):
        for organization_id, found in (answer or {}).items():
            from_plugins.setdefault(organization_id, []).extend(found)

    lines: dict[int, list[PreviewLine]] = {pk: [] for pk in organization_ids}
    period_end: dict[int, dt.datetime] = {}
    for charge_row in unpaid:
        lines[charge_row.organization_id].append(PreviewLine(
            f"Past due: {charge_row.description}", charge_row.amount, charge_row.currency, False,
            charge_row.subscription_id))
    for subscription in subscriptions:
        end = subscription.current_period_end
        org = subscription.organization_id
        period_end[org] = min(period_end.get(org, end), end)
        change = scheduled.get(subscription.id)
        plan = plans[change.plan_id if change is not None and change.plan_id is not None else subscription.plan_id]
        licenses, storage = subscription.license_count, subscription.storage_gb
        its_add_ons = add_ons.get(subscription.id, [])
        label = ""
        if change is not None:
            licenses = change.license_count if change.license_count is not None else licenses
            storage = max(change.storage_gb if change.storage_gb is not None else storage, plan.included_storage_gb)
            its_add_ons = _with_scheduled_add_ons(its_add_ons, change.add_ons or {}, catalog_add_ons,
                                                  subscription.product_id)
            label = " (scheduled change)"
        next_end = add_period(end, plan.billing_period)
        next_prices = PeriodPrices.list_prices(plan, (add_on for add_on, _ in its_add_ons))
        for charge in period_charges(plan, next_prices, licenses, storage, its_add_ons):
            lines[org].append(PreviewLine(
                f"{charge.description}, {end:%Y-%m-%d} to {next_end:%Y-%m-%d}{label}", charge.amount, charge.currency,
                False, subscription.id))
    for row in pending:
        lines[row.organization_id].append(PreviewLine(row.description, row.amount, row.currency, row.prorated,
                                                      row.subscription_id))
    for organization_id, found in from_plugins.items():
        if organization_id in lines:
            lines[organization_id].extend(_line(raw) for raw in found)

    result = {}
    for organization_id in organization_ids:
        total, totals = summarize(lines[organization_id])
        result[organization_id] = Preview(period_end=period_end.get(organization_id, add_period(now, "MONTHLY")),
                                          lines=lines[organization_id], total=total, totals=totals)
    return result


def _with_scheduled_add_ons(current: list[tuple[AddOn, int]], scheduled: Mapping[str, int],
                            catalog: Mapping[str, AddOn], product_id: int) -> list[tuple[AddOn, int]]:
    """The add-ons of the next period: the current ones with the scheduled quantities set (0 removes one)."""
    by_code = {add_on.code: (add_on, quantity) for add_on, quantity in current}
    for code, quantity in scheduled.items():
        add_on = by_code[code][0] if code in by_code else catalog.get(code)
        if add_on is None or add_on.product_id != product_id:
            continue
        if quantity > 0:
            by_code[code] = (add_on, quantity)
        else:
            by_code.pop(code, None)
    return list(by_code.values())
