"""SubscriptionFilter, pushed into SQL (Organization.subscriptions, and analytics over subscriptions)."""

from __future__ import annotations

import datetime as dt

import strawberry
from sqlalchemy import ColumnElement, select

from gateway.relay import decode_pk
from schema.common import validate_country
from schema.models import Organization, Plan, Product, Subscription
from schema.subscriptions.types import SubscriptionStatus


@strawberry.input(description="Every given condition must hold (AND); lists match any of their values (OR).")
class SubscriptionFilter:
    status: list[SubscriptionStatus] | None = None
    product_code: str | None = None
    plan_code: str | None = None
    partner_id: strawberry.ID | None = strawberry.field(default=None, description="The organization's mapped partner.")
    country: list[str] | None = strawberry.field(default=None, description="The organization's country (ISO alpha-2).")
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def subscription_filter_clause(filter: SubscriptionFilter | None) -> list[ColumnElement[bool]]:
    """WHERE terms over ``subscriptions`` (organization conditions as sub-selects, so no join is needed)."""
    if filter is None:
        return []
    clauses: list[ColumnElement[bool]] = []
    if filter.status:
        clauses.append(Subscription.status.in_([s.value for s in filter.status]))
    if filter.product_code:
        clauses.append(Subscription.product_id.in_(
            select(Product.id).where(Product.code == filter.product_code.strip().upper())))
    if filter.plan_code:
        clauses.append(Subscription.plan_id.in_(select(Plan.id).where(Plan.code == filter.plan_code.strip().upper())))
    organization_terms = []
    if filter.partner_id is not None:
        organization_terms.append(Organization.partner_id == decode_pk(filter.partner_id, "Partner"))
    if filter.country:
        organization_terms.append(Organization.country.in_(
            [validate_country(c, ["filter", "country"]) for c in filter.country]))
    if organization_terms:
        clauses.append(Subscription.organization_id.in_(select(Organization.id).where(*organization_terms)))
    if filter.created_after is not None:
        clauses.append(Subscription.created_at >= _aware(filter.created_after))
    if filter.created_before is not None:
        clauses.append(Subscription.created_at < _aware(filter.created_before))
    return clauses
