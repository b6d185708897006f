"""What a plan, its storage and add-ons cost per billing period, as named components: the catalog's prices as subscriptions charge them, pro-rate them and the upcoming invoice lists them.

Every caller says which unit prices a period is charged at (``PeriodPrices``): the list prices in
force now (``PeriodPrices.list_prices``) for a period that starts now or a plan taken on now, or the
prices a subscription's current period was charged at (``PeriodPrices.locked``) for that period,
so a price change never changes what an existing period costs.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from schema.common import round_money
from schema.models import AddOn, Plan, Subscription, SubscriptionAddOn


@dataclass(frozen=True)
class Charge:
    """One recurring component of a subscription's price for one billing period."""

    key: str  # "plan", "storage", "add_on:<CODE>": the same component before and after a change
    description: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class PeriodPrices:
    """The unit prices one billing period is charged at: per license, per GB above the included storage,
    and per unit of each add-on (by add-on primary key; an add-on without a price here cannot be charged)."""

    per_license: Decimal
    storage_per_gb: Decimal
    add_ons: Mapping[int, Decimal] = field(default_factory=dict)

    @classmethod
    def list_prices(cls, plan: Plan, add_ons: Iterable[AddOn] = ()) -> PeriodPrices:
        """The catalog's list prices in force now: for a period that starts now (a new or purchased
        subscription, a switch of billing period, the next period on the upcoming invoice)."""
        return cls(plan.price_per_license, plan.storage_price_per_gb, {a.id: a.unit_price for a in add_ons})

    @classmethod
    def locked(cls, subscription: Subscription, add_ons: Iterable[SubscriptionAddOn] = ()) -> PeriodPrices:
        """The prices the subscription's current period was charged at (never the list prices)."""
        return cls(_locked(subscription.period_price_per_license, subscription.id),
                   _locked(subscription.period_storage_price_per_gb, subscription.id),
                   {a.add_on_id: _locked(a.period_unit_price, subscription.id) for a in add_ons})

    def with_plan(self, plan: Plan) -> PeriodPrices:
        """These prices with ``plan``'s list prices in force now (a plan taken on in the middle of a period)."""
        return replace(self, per_license=plan.price_per_license, storage_per_gb=plan.storage_price_per_gb)

    def with_add_ons(self, add_ons: Iterable[AddOn]) -> PeriodPrices:
        """These prices, plus the list price in force now of each add-on that has none yet (one added now)."""
        added = {a.id: a.unit_price for a in add_ons if a.id not in self.add_ons}
        return replace(self, add_ons={**self.add_ons, **added}) if added else self


def _locked(price: Decimal | None, subscription_id: int) -> Decimal:
    """A locked price; missing only when a row was written around the ORM (which always sets it): an error,
    never a silent fall back to the list price."""
    if price is None:
        raise RuntimeError(f"subscription {subscription_id} has no locked period price")
    return price


def period_charges(plan: Plan, prices: PeriodPrices, license_count: int, storage_gb: int,
                   add_ons: Iterable[tuple[AddOn, int]]) -> list[Charge]:
    """Price × licenses, storage above the plan's included GB, and PREPAID add-ons × quantity, at ``prices``.

    ``plan`` gives names, currency and the included storage; amounts come from ``prices`` only.
    POSTPAID add-ons are billed by usage (plugins charge or add invoice lines for them).
    Zero components are left out.
    """
    charges = [Charge("plan", f"{plan.name}: {license_count} license{'s' if license_count != 1 else ''}",
                      round_money(prices.per_license * license_count), plan.currency)]
    extra = max(0, storage_gb - plan.included_storage_gb)
    if extra and prices.storage_per_gb:
        charges.append(Charge("storage", f"{plan.name}: {extra} GB storage above the included {plan.included_storage_gb} GB",
                              round_money(prices.storage_per_gb * extra), plan.currency))
    for add_on, quantity in add_ons:
        if add_on.billing == "PREPAID" and quantity > 0:
            charges.append(Charge(f"add_on:{add_on.code}", f"{add_on.name}: {quantity} × {add_on.unit}",
                                  round_money(prices.add_ons[add_on.id] * quantity), add_on.currency))
    return [c for c in charges if c.amount != 0]


def add_period(start: dt.datetime, billing_period: str) -> dt.datetime:
    """The end of a period starting at ``start``: the same day next month (or year), clamped to the month's end."""
    months = 12 if billing_period == "YEARLY" else 1
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)
