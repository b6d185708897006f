"""CSV exports of organizations and subscriptions, streamed from the database with flat memory.

``GET /exports/organizations.csv`` and ``GET /exports/subscriptions.csv`` take the fields of
OrganizationFilter / SubscriptionFilter as query parameters (lists as ``a,b`` or repeated),
need ``Authorization: Bearer <token>`` and contain exactly what the viewer may see through
the API. Rows are read with a server-side cursor in chunks and written as they come.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import orjson
from sqlalchemy import Select, select
from sqlalchemy.orm import aliased
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.auth import bearer_token
from gateway.context import Context
from gateway.csv_safety import SafeCsvWriter
from gateway.errors import GatewayError, Unauthenticated
from gateway.faults import started_stream
from gateway.relay import encode_id
from gateway.sensitive import redact_message
from schema.access import visible_organizations_clause
from schema.analytics.filters import (
    organization_filter_from_params,
    subscription_conditions,
    subscription_filter_from_params,
)
from schema.models import Organization, Partner, Plan, Product, Subscription
from schema.organizations.filters import organization_filter_clause

if TYPE_CHECKING:
    from gateway.runtime import Runtime

CHUNK_ROWS = 1000
# a statement of plain columns (not entities): each export line is one row of values
RowsStatement: TypeAlias = "Select[*tuple[Any, ...]]"

ORGANIZATION_COLUMNS = ["id", "name", "domain", "domain_verified", "status", "country", "city",
                        "partner_id", "partner_code", "created_at"]
SUBSCRIPTION_COLUMNS = ["id", "organization_id", "organization_domain", "product_code", "plan_code", "status",
                        "license_count", "storage_gb", "auto_renew", "current_period_start", "current_period_end",
                        "trial_ends_at", "created_at"]


def _json_error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Response:
    body = {"errors": [{"message": redact_message(message), "extensions": {"code": code}}]}  # echoes parameters
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _organization_statement() -> RowsStatement:
    partner = aliased(Partner)
    return (
        select(Organization.id, Organization.name, Organization.domain, Organization.domain_verified,
               Organization.status, Organization.country, Organization.city, Organization.partner_id,
               partner.code, Organization.created_at)
        .outerjoin(partner, partner.id == Organization.partner_id)
        .order_by(Organization.id)
    )


def _organization_line(row: Sequence[Any]) -> list[Any]:
    pk, name, domain, verified, status, country, city, partner_id, partner_code, created_at = row
    return [encode_id("Organization", pk), name, domain, "true" if verified else "false", status, country or "",
            city or "", encode_id("Partner", partner_id) if partner_id is not None else "", partner_code or "",
            _iso(created_at)]


def _subscription_statement() -> RowsStatement:
    return (
        select(Subscription.id, Subscription.organization_id, Organization.domain, Product.code, Plan.code,
               Subscription.status, Subscription.license_count, Subscription.storage_gb, Subscription.auto_renew,
               Subscription.current_period_start, Subscription.current_period_end, Subscription.trial_ends_at,
               Subscription.created_at)
        .join(Organization, Organization.id == Subscription.organization_id)
        .join(Product, Product.id == Subscription.product_id)
        .join(Plan, Plan.id == Subscription.plan_id)
        .order_by(Subscription.id)
    )


def _subscription_line(row: Sequence[Any]) -> list[Any]:
    (pk, org_id, domain, product, plan, status, licenses, storage, auto_renew,
     period_start, period_end, trial_ends, created_at) = row
    return [encode_id("ProductSubscription", pk), encode_id("Organization", org_id), domain, product, plan, status,
            licenses, storage, "true" if auto_renew else "false", _iso(period_start), _iso(period_end),
            _iso(trial_ends), _iso(created_at)]


async def stream_csv(runtime: Runtime, stmt: RowsStatement, header: list[str],
                     line: Callable[[Sequence[Any]], list[Any]]) -> AsyncIterator[bytes]:
    """CSV bytes of ``stmt``'s rows, one chunk per CHUNK_ROWS rows, from a server-side cursor."""
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)  # text cells cannot become spreadsheet formulas
    writer.writerow(header)
    async with runtime.engine.connect() as connection:
        result = await connection.stream(stmt.execution_options(yield_per=CHUNK_ROWS))
        async for rows in result.partitions():
            writer.writerows(line(row) for row in rows)
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


async def _export(request: Request, build: Callable[[Context, Request], Awaitable[RowsStatement]], header: list[str],
                  line: Callable[[Sequence[Any]], list[Any]], filename: str) -> Response:
    runtime = request.app.state.runtime
    try:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise Unauthenticated("Sign in: send 'Authorization: Bearer <token>'.")
        async with runtime.context(token=token, request=request) as ctx:
            stmt = await build(ctx, request)
    except Unauthenticated as error:
        return _json_error(401, error.message, error.code, {"WWW-Authenticate": "Bearer"})
    except GatewayError as error:
        return _json_error(400, error.message, error.code)
    return StreamingResponse(
        await started_stream(stream_csv(runtime, stmt, header, line)), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


async def _organizations_statement(ctx: Context, request: Request) -> RowsStatement:
    filter = organization_filter_from_params(request.query_params)
    return _organization_statement().where(await visible_organizations_clause(ctx), *organization_filter_clause(filter))


async def _subscriptions_statement(ctx: Context, request: Request) -> RowsStatement:
    filter = subscription_filter_from_params(request.query_params)
    return _subscription_statement().where(await visible_organizations_clause(ctx), *subscription_conditions(filter))


async def export_organizations(request: Request) -> Response:
    return await _export(request, _organizations_statement, ORGANIZATION_COLUMNS, _organization_line,
                         "organizations.csv")


async def export_subscriptions(request: Request) -> Response:
    return await _export(request, _subscriptions_statement, SUBSCRIPTION_COLUMNS, _subscription_line,
                         "subscriptions.csv")


ROUTES = [
    Route("/exports/organizations.csv", export_organizations, methods=["GET"]),
    Route("/exports/subscriptions.csv", export_subscriptions, methods=["GET"]),
]
