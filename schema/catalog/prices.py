"""List price changes of plans and add-ons, and their history.

A change sets the list price and records one ``CatalogPriceChange`` row per changed price (previous
and new amount, who, why, from when), audited, in the caller's transaction. Nothing rewrites or
deletes that history (the model refuses updates and deletes). A list price is what a period
starting from then on is charged: new and purchased subscriptions, a plan taken on mid-period, an
add-on added mid-period, the next period on the upcoming invoice. A period already charged keeps
the prices it was charged at (``schema.catalog.pricing.PeriodPrices.locked``).

Refusals: INVALID_AMOUNT (negative, more than 4 decimals, above MAX_PRICE), CURRENCY_MISMATCH (a
price change keeps the plan's or add-on's currency), REASON_REQUIRED, REASON_TOO_LONG,
UNKNOWN_PLAN / UNKNOWN_ADD_ON (CATALOG_EMPTY when there is no catalog at all), NOTHING_TO_CHANGE.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from gateway.context import Context
from gateway.db import utcnow
from gateway.errors import DomainError
from gateway.policy import Decision
from schema.access import audit
from schema.catalog.service import plan_by_code, refuse_if_catalog_empty
from schema.models import AddOn, CatalogPriceChange, Plan

PRICE_PER_LICENSE = "PRICE_PER_LICENSE"
STORAGE_PRICE_PER_GB = "STORAGE_PRICE_PER_GB"
UNIT_PRICE = "UNIT_PRICE"
# history field -> (model attribute, input field)
PLAN_FIELDS = {PRICE_PER_LICENSE: ("price_per_license", "pricePerLicense"),
               STORAGE_PRICE_PER_GB: ("storage_price_per_gb", "storagePricePerGb")}
ADD_ON_FIELDS = {UNIT_PRICE: ("unit_price", "unitPrice")}

MAX_PRICE = Decimal("1000000")
PRICE_STEP = Decimal("0.0001")  # the money columns keep 4 decimals
MAX_REASON = 500


@dataclass(frozen=True)
class PriceInput:
    """A new list price as asked: an amount and the currency the caller believes it is in."""

    amount: Decimal
    currency: str


def _checked(price: PriceInput, currency: str, field: str) -> Decimal:
    amount = Decimal(price.amount)
    if not amount.is_finite():
        raise DomainError("INVALID_AMOUNT", "A price is a finite decimal amount.", [field, "amount"])
    if amount < 0:
        raise DomainError("INVALID_AMOUNT", "A price cannot be negative (0 makes it free).", [field, "amount"])
    if amount > MAX_PRICE:
        raise DomainError("INVALID_AMOUNT", f"A price is at most {MAX_PRICE}.", [field, "amount"])
    if amount != amount.quantize(PRICE_STEP):
        raise DomainError("INVALID_AMOUNT", "A price has at most 4 decimals.", [field, "amount"])
    if price.currency.strip().upper() != currency:
        raise DomainError("CURRENCY_MISMATCH", f"This price is in {currency}; a price change keeps the currency.",
                          [field, "currency"])
    return amount.quantize(PRICE_STEP) + 0  # + 0: no negative zero


def _reason(reason: str) -> str:
    text = reason.strip()
    if not text:
        raise DomainError("REASON_REQUIRED", "Say why the price changes (it is kept in the price history).", "reason")
    if len(text) > MAX_REASON:
        raise DomainError("REASON_TOO_LONG", f"The reason has at most {MAX_REASON} characters.", "reason")
    return text


async def _record(ctx: Context, decision: Decision, row: Plan | AddOn, fields: dict[str, tuple[str, str]],
                  prices: dict[str, PriceInput | None], reason: str, now: dt.datetime | None) -> list[CatalogPriceChange]:
    """Check every given price, apply the ones that differ and record them (NOTHING_TO_CHANGE when none does)."""
    if all(price is None for price in prices.values()):
        raise DomainError("NOTHING_TO_CHANGE", "Give at least one new price.")
    new_amounts = {name: _checked(price, row.currency, fields[name][1])
                   for name, price in prices.items() if price is not None}
    reason = _reason(reason)
    changed = {name: amount for name, amount in new_amounts.items() if amount != getattr(row, fields[name][0])}
    if not changed:
        raise DomainError("NOTHING_TO_CHANGE", f"{row.name} already has these prices.")
    at = now or utcnow()
    history = []
    for name, amount in changed.items():
        attribute = fields[name][0]
        history.append(CatalogPriceChange(
            plan_id=row.id if isinstance(row, Plan) else None, add_on_id=row.id if isinstance(row, AddOn) else None,
            field=name, previous_amount=getattr(row, attribute), new_amount=amount, currency=row.currency,
            effective_at=at, changed_by_user_id=ctx.viewer.user_id, reason=reason, created_at=at))
        setattr(row, attribute, amount)
    ctx.session.add_all(history)
    await ctx.session.flush()
    kind = "planCode" if isinstance(row, Plan) else "addOnCode"
    audit(ctx, decision, decision.action.name, details={
        kind: row.code, "reason": reason, "currency": row.currency,
        "changes": [{"field": c.field, "from": str(c.previous_amount), "to": str(c.new_amount), "priceChangeId": c.id}
                    for c in history]})
    return history


async def change_plan_price(ctx: Context, decision: Decision, plan_code: str, *, price_per_license: PriceInput | None,
                            storage_price_per_gb: PriceInput | None, reason: str,
                            now: dt.datetime | None = None) -> tuple[Plan, list[CatalogPriceChange]]:
    """Set a plan's price per license and/or per GB of storage; the history rows, one per changed price."""
    plan = await ctx.session.scalar(select(Plan).where(Plan.code == plan_code.strip().upper()).with_for_update()
                                    .execution_options(populate_existing=True))
    if plan is None:
        plan = await plan_by_code(ctx.session, plan_code)  # raises UNKNOWN_PLAN (or CATALOG_EMPTY)
    history = await _record(ctx, decision, plan, PLAN_FIELDS, {PRICE_PER_LICENSE: price_per_license,
                                                               STORAGE_PRICE_PER_GB: storage_price_per_gb}, reason, now)
    return plan, history


async def change_add_on_price(ctx: Context, decision: Decision, add_on_code: str, *, unit_price: PriceInput,
                              reason: str, now: dt.datetime | None = None) -> tuple[AddOn, list[CatalogPriceChange]]:
    """Set an add-on's unit price; the history row."""
    add_on = await ctx.session.scalar(select(AddOn).where(AddOn.code == add_on_code.strip().upper()).with_for_update()
                                      .execution_options(populate_existing=True))
    if add_on is None:
        await refuse_if_catalog_empty(ctx.session)
        raise DomainError("UNKNOWN_ADD_ON", f"There is no add-on with the code {add_on_code!r}; the `products` query "
                          "lists every product's add-ons.", "addOnCode")
    history = await _record(ctx, decision, add_on, ADD_ON_FIELDS, {UNIT_PRICE: unit_price}, reason, now)
    return add_on, history
