"""subscriptionStats: counts, licenses and monthly recurring revenue, aggregated by one SQL GROUP BY.

Monthly recurring revenue (MRR) of a subscription, in its plan's currency:
  price per license × licenses, plus unit price × quantity of each PREPAID add-on
  (POSTPAID add-ons are usage, not recurring); a YEARLY plan's amounts are divided by 12.
  The prices are the ones the current period is charged at (``Subscription.period_price_per_license``,
  ``SubscriptionAddOn.period_unit_price``): what customers pay now. A list price change moves MRR
  when periods renew at the new price or a subscription changes, not on the day of the change.
Amounts are summed in ten-thousandths of a unit as integers inside the database (exact on
SQLite too), and only the group totals are divided by 12 and rounded to the cent (half up).
Each row has one currency: an add-on priced in another currency than its plan lands in the
row of its own currency. Without a status filter, SUSPENDED and CANCELLED subscriptions are
left out; a filter naming statuses takes exactly those.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import strawberry
from sqlalchemy import BigInteger, Cast, Integer, RowMapping, Subquery, case, cast, func, literal, select, union_all
from sqlalchemy.orm import InstrumentedAttribute

from gateway.batch import batch_field
from gateway.context import Context
from schema.access import visible_organizations_clause
from schema.analytics.filters import subscription_conditions
from schema.catalog.types import Plan, Product, plans_by_pk, products_by_pk
from schema.common import Money, round_money
from schema.models import AddOn as AddOnRow
from schema.models import Organization as OrganizationRow
from schema.models import Plan as PlanRow
from schema.models import Subscription as SubscriptionRow
from schema.models import SubscriptionAddOn as SubscriptionAddOnRow
from schema.partners.types import Partner, partners_by_pk
from schema.subscriptions.filters import SubscriptionFilter
from schema.subscriptions.types import SubscriptionStatus

UNITS = 10_000  # amounts are MoneyAmount(18, 4): exact integers in ten-thousandths


@strawberry.enum(description="What subscriptionStats groups by (each row also has one currency).")
class SubscriptionGroupBy(enum.Enum):
    PRODUCT = "PRODUCT"
    PLAN = "PLAN"
    PARTNER = "PARTNER"
    COUNTRY = "COUNTRY"
    STATUS = "STATUS"


@strawberry.type(description="One group of subscriptions; the fields not grouped by are null.")
class SubscriptionStatsRow:
    country: str | None
    status: SubscriptionStatus | None
    subscriptions: int = strawberry.field(description="How many subscriptions the group holds.")
    organizations: int = strawberry.field(description="How many distinct organizations hold them.")
    licenses: int
    monthly_recurring_revenue: Money = strawberry.field(
        description="Licenses × price plus prepaid add-ons, per month (yearly plans ÷ 12), in one currency.")
    product_pk: strawberry.Private[int | None]
    plan_pk: strawberry.Private[int | None]
    partner_pk: strawberry.Private[int | None]

    @batch_field
    @staticmethod
    async def product(parents: list[SubscriptionStatsRow], ctx: Context) -> list[Product | None]:
        return await products_by_pk(ctx, [p.product_pk for p in parents])

    @batch_field
    @staticmethod
    async def plan(parents: list[SubscriptionStatsRow], ctx: Context) -> list[Plan | None]:
        return await plans_by_pk(ctx, [p.plan_pk for p in parents])

    @batch_field(description="The partner the organizations are mapped to; null for direct customers.")
    @staticmethod
    async def partner(parents: list[SubscriptionStatsRow], ctx: Context) -> list[Partner | None]:
        return await partners_by_pk(ctx, [p.partner_pk for p in parents])


@dataclass(frozen=True)
class _Dimension:
    label: str
    column: InstrumentedAttribute[Any]  # int, str or their Optional: the dimension's own column


DIMENSIONS = {
    SubscriptionGroupBy.PRODUCT: _Dimension("product_id", SubscriptionRow.product_id),
    SubscriptionGroupBy.PLAN: _Dimension("plan_id", SubscriptionRow.plan_id),
    SubscriptionGroupBy.PARTNER: _Dimension("partner_id", OrganizationRow.partner_id),
    SubscriptionGroupBy.COUNTRY: _Dimension("country", OrganizationRow.country),
    SubscriptionGroupBy.STATUS: _Dimension("status", SubscriptionRow.status),
}


def _units(amount: InstrumentedAttribute[Decimal | None]) -> Cast[int]:
    return cast(func.round(amount * UNITS), BigInteger)


def revenue_lines() -> Subquery:
    """One line per subscription (its licenses) and per prepaid add-on: amounts per billing period."""
    plan_lines = (
        select(
            SubscriptionRow.id.label("subscription_id"),
            PlanRow.currency.label("currency"),
            SubscriptionRow.license_count.label("licenses"),
            (_units(SubscriptionRow.period_price_per_license) * SubscriptionRow.license_count).label("amount"),
            PlanRow.billing_period.label("period"),
        )
        .join(PlanRow, PlanRow.id == SubscriptionRow.plan_id)
    )
    add_on_lines = (
        select(
            SubscriptionAddOnRow.subscription_id,
            AddOnRow.currency,
            cast(literal(0), Integer),
            _units(SubscriptionAddOnRow.period_unit_price) * SubscriptionAddOnRow.quantity,
            PlanRow.billing_period,
        )
        .join(AddOnRow, AddOnRow.id == SubscriptionAddOnRow.add_on_id)
        .join(SubscriptionRow, SubscriptionRow.id == SubscriptionAddOnRow.subscription_id)
        .join(PlanRow, PlanRow.id == SubscriptionRow.plan_id)
        .where(AddOnRow.billing == "PREPAID")
    )
    return union_all(plan_lines, add_on_lines).subquery("revenue_lines")


async def subscription_stats(ctx: Context, filter: SubscriptionFilter | None, group_by: list[SubscriptionGroupBy]) -> list[SubscriptionStatsRow]:
    """The stats rows the viewer may see, in one statement."""
    dimensions = [DIMENSIONS[g] for g in dict.fromkeys(group_by)]
    lines = revenue_lines()
    yearly = lines.c.period == "YEARLY"
    group_columns = [d.column.label(d.label) for d in dimensions]
    stmt = (
        select(
            *group_columns,
            lines.c.currency,
            func.count(SubscriptionRow.id.distinct()).label("subscriptions"),
            func.count(SubscriptionRow.organization_id.distinct()).label("organizations"),
            func.coalesce(func.sum(lines.c.licenses), 0).label("licenses"),
            func.coalesce(func.sum(case((yearly, 0), else_=lines.c.amount)), 0).label("monthly_amount"),
            func.coalesce(func.sum(case((yearly, lines.c.amount), else_=0)), 0).label("yearly_amount"),
        )
        .select_from(lines)
        .join(SubscriptionRow, SubscriptionRow.id == lines.c.subscription_id)
        .join(OrganizationRow, OrganizationRow.id == SubscriptionRow.organization_id)
        .where(await visible_organizations_clause(ctx),
               *subscription_conditions(filter, exclude_not_recurring=True))
        .group_by(*[d.column for d in dimensions], lines.c.currency)
        .order_by(*[d.column.asc().nulls_last() for d in dimensions], lines.c.currency)
    )
    rows = (await ctx.session.execute(stmt)).mappings().all()
    return [_row(row, dimensions) for row in rows]


def _row(row: RowMapping, dimensions: list[_Dimension]) -> SubscriptionStatsRow:
    grouped = {d.label for d in dimensions}
    monthly = (Decimal(int(row["monthly_amount"])) + Decimal(int(row["yearly_amount"])) / 12) / UNITS
    status = row["status"] if "status" in grouped else None
    return SubscriptionStatsRow(
        country=row["country"] if "country" in grouped else None,
        status=SubscriptionStatus(status) if status is not None else None,
        subscriptions=int(row["subscriptions"]),
        organizations=int(row["organizations"]),
        licenses=int(row["licenses"]),
        monthly_recurring_revenue=Money(amount=round_money(monthly), currency=row["currency"]),
        product_pk=row["product_id"] if "product_id" in grouped else None,
        plan_pk=row["plan_id"] if "plan_id" in grouped else None,
        partner_pk=row["partner_id"] if "partner_id" in grouped else None,
    )
