"""SubscriptionFilter as SQL conditions, and both filters read from query parameters (CSV exports)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import TypeVar

import strawberry
from sqlalchemy import ColumnElement
from starlette.datastructures import QueryParams

from gateway.errors import BadUserInput, DomainError
from schema.common import validate_country
from schema.models import Subscription
from schema.organizations.filters import OrganizationFilter, OrganizationStatus
from schema.subscriptions.filters import SubscriptionFilter, subscription_filter_clause
from schema.subscriptions.types import SubscriptionStatus

# Without an explicit status filter, revenue statistics leave these out (they earn nothing).
NOT_RECURRING = ("SUSPENDED", "CANCELLED")
E = TypeVar("E", bound=Enum)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _countries(values: Iterable[str], field: list[str]) -> list[str]:
    try:
        codes = [validate_country(value, field) for value in values]
    except DomainError as error:
        raise BadUserInput(error.message, field=field) from None
    return [code for code in codes if code is not None]  # None only for '', which _list drops


def subscription_conditions(filter: SubscriptionFilter | None, *,
                            exclude_not_recurring: bool = False) -> list[ColumnElement[bool]]:
    """SQL conditions on ``Subscription`` for a SubscriptionFilter (the core's own clause).

    With ``exclude_not_recurring`` and no status in the filter, suspended and cancelled
    subscriptions are left out.
    """
    try:
        conditions = subscription_filter_clause(filter)
    except DomainError as error:  # a bad country code in a read is the client's input error
        raise BadUserInput(error.message, field=["filter", "country"]) from None
    if exclude_not_recurring and not (filter is not None and filter.status):
        conditions.append(Subscription.status.not_in(NOT_RECURRING))
    return conditions


# ---------------------------------------------------------------- query parameters
def _list(params: QueryParams, name: str) -> list[str] | None:
    """``?status=A&status=B`` or ``?status=A,B``."""
    values = [part.strip() for raw in params.getlist(name) for part in raw.split(",") if part.strip()]
    return values or None


def _enum_list(params: QueryParams, name: str, enum: type[E]) -> list[E] | None:
    values = _list(params, name)
    if values is None:
        return None
    try:
        return [enum(value.upper()) for value in values]
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise BadUserInput(f"`{name}` takes {allowed}; got {','.join(values)}") from None


def _datetime(params: QueryParams, name: str) -> dt.datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return _aware(dt.datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        raise BadUserInput(f"`{name}` must be an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z") from None


def _boolean(params: QueryParams, name: str) -> bool | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise BadUserInput(f"`{name}` must be true or false")


def _text(params: Mapping[str, str], name: str) -> str | None:
    return params.get(name) or None


def _id(params: Mapping[str, str], name: str) -> strawberry.ID | None:
    text = _text(params, name)
    return strawberry.ID(text) if text is not None else None


def organization_filter_from_params(params: QueryParams) -> OrganizationFilter:
    """OrganizationFilter from ``status``, ``country``, ``partnerId``, ``domainVerified``, ``search``,
    ``createdAfter``, ``createdBefore``, ``productCode``, ``planCode``."""
    return OrganizationFilter(
        status=_enum_list(params, "status", OrganizationStatus),
        country=_countries(_list(params, "country") or [], ["country"]) or None,
        partner_id=_id(params, "partnerId"),
        domain_verified=_boolean(params, "domainVerified"),
        search=_text(params, "search"),
        created_after=_datetime(params, "createdAfter"),
        created_before=_datetime(params, "createdBefore"),
        product_code=_text(params, "productCode"),
        plan_code=_text(params, "planCode"),
    )


def subscription_filter_from_params(params: QueryParams) -> SubscriptionFilter:
    """SubscriptionFilter from ``status``, ``productCode``, ``planCode``, ``partnerId``, ``country``,
    ``createdAfter``, ``createdBefore``."""
    return SubscriptionFilter(
        status=_enum_list(params, "status", SubscriptionStatus),
        product_code=_text(params, "productCode"),
        plan_code=_text(params, "planCode"),
        partner_id=_id(params, "partnerId"),
        country=_countries(_list(params, "country") or [], ["country"]) or None,
        created_after=_datetime(params, "createdAfter"),
        created_before=_datetime(params, "createdBefore"),
    )
