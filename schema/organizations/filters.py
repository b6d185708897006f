"""OrganizationFilter and OrganizationOrder, pushed into SQL."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry
from sqlalchemy import ColumnElement, and_, func, or_, select

from gateway.relay import SortKey, decode_pk
from schema.common import OrderDirection, validate_country
from schema.models import Organization, Plan, Product, Subscription


@strawberry.enum
class OrganizationStatus(enum.Enum):
    TRIAL = "TRIAL"
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    SUSPENDED = "SUSPENDED"


@strawberry.input(description="Every given condition must hold (AND); lists match any of their values (OR).")
class OrganizationFilter:
    status: list[OrganizationStatus] | None = None
    country: list[str] | None = None
    partner_id: strawberry.ID | None = None
    domain_verified: bool | None = None
    search: str | None = strawberry.field(default=None, description="Case-insensitive match on name or domain.")
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    product_code: str | None = strawberry.field(default=None, description="Has a subscription to this product.")
    plan_code: str | None = strawberry.field(default=None, description="Has a subscription on this plan.")


@strawberry.enum
class OrganizationOrderField(enum.Enum):
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"
    COUNTRY = "COUNTRY"


@strawberry.input
class OrganizationOrder:
    field: OrganizationOrderField
    direction: OrderDirection = OrderDirection.ASC


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def organization_filter_clause(filter: OrganizationFilter | None) -> list[ColumnElement[bool]]:
    if filter is None:
        return []
    clauses: list[ColumnElement[bool]] = []
    if filter.status:
        clauses.append(Organization.status.in_([s.value for s in filter.status]))
    if filter.country:
        clauses.append(Organization.country.in_([validate_country(c, ["filter", "country"]) for c in filter.country]))
    if filter.partner_id is not None:
        clauses.append(Organization.partner_id == decode_pk(filter.partner_id, "Partner"))
    if filter.domain_verified is not None:
        clauses.append(Organization.domain_verified == filter.domain_verified)
    if filter.search:
        # % and _ in the search text are literal characters, not LIKE wildcards
        escaped = filter.search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        clauses.append(or_(func.lower(Organization.name).like(pattern, escape="\\"),
                           func.lower(Organization.domain).like(pattern, escape="\\")))
    if filter.created_after is not None:
        clauses.append(Organization.created_at >= _aware(filter.created_after))
    if filter.created_before is not None:
        clauses.append(Organization.created_at < _aware(filter.created_before))
    if filter.product_code or filter.plan_code:
        having = select(Subscription.organization_id)
        conditions = []
        if filter.product_code:
            having = having.join(Product, Product.id == Subscription.product_id)
            conditions.append(Product.code == filter.product_code.strip().upper())
        if filter.plan_code:
            having = having.join(Plan, Plan.id == Subscription.plan_id)
            conditions.append(Plan.code == filter.plan_code.strip().upper())
        clauses.append(Organization.id.in_(having.where(and_(*conditions))))
    return clauses


def organization_sort(order: OrganizationOrder | None) -> list[SortKey]:
    descending = order is not None and order.direction == OrderDirection.DESC
    field = order.field if order is not None else OrganizationOrderField.NAME
    primary = {
        OrganizationOrderField.NAME: Organization.name,
        OrganizationOrderField.CREATED_AT: Organization.created_at,
        OrganizationOrderField.COUNTRY: func.coalesce(Organization.country, ""),
    }[field]
    return [SortKey(primary, descending), SortKey(Organization.id, descending)]
