"""What a plan, its storage and add-ons cost per billing period, as named components: the catalog's prices as subscriptions charge them, pro-rate them and the upcoming invoice lists them."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from schema.common import round_money
from schema.models import AddOn, Plan


@dataclass(frozen=True)
class Charge:
    """One recurring component of a subscription's price for one billing period."""

    key: str  # "plan", "storage", "add_on:<CODE>": the same component before and after a change
    description: str
    amount: Decimal
    currency: str


def period_charges(plan: Plan, license_count: int, storage_gb: int,
                   add_ons: Iterable[tuple[AddOn, int]]) -> list[Charge]:
    """Plan price × licenses, storage above the plan's included GB, and PREPAID add-ons × quantity.

    POSTPAID add-ons are billed by usage (plugins charge or add invoice lines for them).
    Zero components are left out.
    """
    charges = [Charge("plan", f"{plan.name}: {license_count} license{'s' if license_count != 1 else ''}",
                      round_money(plan.price_per_license * license_count), plan.currency)]
    extra = max(0, storage_gb - plan.included_storage_gb)
    if extra and plan.storage_price_per_gb:
        charges.append(Charge("storage", f"{plan.name}: {extra} GB storage above the included {plan.included_storage_gb} GB",
                              round_money(plan.storage_price_per_gb * extra), plan.currency))
    for add_on, quantity in add_ons:
        if add_on.billing == "PREPAID" and quantity > 0:
            charges.append(Charge(f"add_on:{add_on.code}", f"{add_on.name}: {quantity} × {add_on.unit}",
                                  round_money(add_on.unit_price * quantity), add_on.currency))
    return [c for c in charges if c.amount != 0]


def add_period(start: dt.datetime, billing_period: str) -> dt.datetime:
    """The end of a period starting at ``start``: the same day next month (or year), clamped to the month's end."""
    months = 12 if billing_period == "YEARLY" else 1
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)
