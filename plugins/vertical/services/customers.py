"""The developer's customer list: one filter, pushed into SQL, shared by the graph, bulk upgrades and the CSV."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from gateway.errors import DomainError
from plugins.vertical.models import SolutionInstance, SolutionVersion
from plugins.vertical.services.solutions import (
    ACCOUNT_STATUSES,
    LIVE_SUBSCRIPTION,
    STORAGE_ADD_ON,
    USER_TYPES,
    VERTICAL_PRODUCT,
)
from schema.models import AddOn, Organization, Plan, Product, Subscription, SubscriptionAddOn


@dataclass(frozen=True)
class CustomerFilter:
    """Every given condition must hold; a list matches any of its values. Dates are inclusive, UTC."""

    instance_ids: list[int] | None = None
    transaction_date_from: dt.date | None = None
    transaction_date_to: dt.date | None = None
    plan_codes: list[str] | None = None
    user_types: list[str] | None = None
    app_versions: list[str] | None = None
    account_statuses: list[str] | None = field(default=None)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def customer_conditions(filter: CustomerFilter | None) -> list[ColumnElement[bool]]:
    """SQL conditions on SolutionInstance for ``filter`` (none: every customer)."""
    if filter is None:
        return []
    for name, values, allowed in (("userTypes", filter.user_types, USER_TYPES),
                                  ("accountStatus", filter.account_statuses, ACCOUNT_STATUSES)):
        unknown = sorted(set(values or []) - set(allowed))
        if unknown:
            raise DomainError("INVALID_FILTER", f"{name} has unknown value(s) {', '.join(unknown)}; "
                                                f"use {', '.join(allowed)}.", name)
    if (filter.transaction_date_from and filter.transaction_date_to
            and filter.transaction_date_from > filter.transaction_date_to):
        raise DomainError("INVALID_FILTER", "transactionDateFrom is after transactionDateTo.", "transactionDateFrom")
    conditions: list[ColumnElement[bool]] = []
    if filter.instance_ids is not None:
        conditions.append(SolutionInstance.id.in_(filter.instance_ids))
    if filter.transaction_date_from is not None:
        conditions.append(SolutionInstance.last_transaction_at >= _midnight(filter.transaction_date_from))
    if filter.transaction_date_to is not None:
        conditions.append(
            SolutionInstance.last_transaction_at < _midnight(filter.transaction_date_to + dt.timedelta(days=1)))
    if filter.plan_codes is not None:
        conditions.append(SolutionInstance.plan_id.in_(select(Plan.id).where(Plan.code.in_(filter.plan_codes))))
    if filter.user_types is not None:
        conditions.append(SolutionInstance.user_type.in_(filter.user_types))
    if filter.app_versions is not None:
        conditions.append(SolutionInstance.installed_version_id.in_(
            select(SolutionVersion.id).where(SolutionVersion.version.in_(filter.app_versions))))
    if filter.account_statuses is not None:
        conditions.append(SolutionInstance.account_status.in_(filter.account_statuses))
    return conditions


CSV_HEADER = [
    "instance_id", "organization_id", "organization_name", "domain", "country", "account_status", "user_type",
    "is_test_account", "plan_code", "installed_version", "last_transaction_at", "data_used_mb", "data_limit_mb",
    "file_used_mb", "file_limit_mb", "installed_at",
]


def export_statement(solution_id: int, filter: CustomerFilter | None) -> Select[*tuple[Any, ...]]:
    """One row per customer of the solution, in instance order, with the columns of CSV_HEADER."""
    add_on = (
        select(Subscription.organization_id.label("organization_id"), func.sum(SubscriptionAddOn.quantity).label("gb"))
        .join(SubscriptionAddOn, SubscriptionAddOn.subscription_id == Subscription.id)
        .join(AddOn, AddOn.id == SubscriptionAddOn.add_on_id)
        .join(Product, Product.id == Subscription.product_id)
        .where(Product.code == VERTICAL_PRODUCT, AddOn.code == STORAGE_ADD_ON,
               Subscription.status.in_(LIVE_SUBSCRIPTION))
        .group_by(Subscription.organization_id)
        .subquery()
    )
    return (
        select(
            SolutionInstance.id, SolutionInstance.organization_id, Organization.name, Organization.domain,
            Organization.country, SolutionInstance.account_status, SolutionInstance.user_type,
            SolutionInstance.is_test_account, Plan.code, SolutionVersion.version,
            SolutionInstance.last_transaction_at, SolutionInstance.data_used_mb, SolutionInstance.data_limit_mb,
            SolutionInstance.file_used_mb,
            (SolutionInstance.file_limit_mb + func.coalesce(add_on.c.gb, 0) * 1024).label("file_limit_mb"),
            SolutionInstance.installed_at,
        )
        .join(Organization, Organization.id == SolutionInstance.organization_id)
        .join(SolutionVersion, SolutionVersion.id == SolutionInstance.installed_version_id)
        .outerjoin(Plan, Plan.id == SolutionInstance.plan_id)
        .outerjoin(add_on, add_on.c.organization_id == SolutionInstance.organization_id)
        .where(SolutionInstance.solution_id == solution_id, *customer_conditions(filter))
        .order_by(SolutionInstance.id)
    )
