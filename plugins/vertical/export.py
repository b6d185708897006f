"""``GET /exports/vertical/solutions/{solutionId}/customers.csv``: the developer's customers, streamed.

Query parameters are the fields of SolutionCustomerFilter (lists repeated or comma-separated):
``ids``, ``transactionDateFrom``, ``transactionDateTo`` (YYYY-MM-DD, inclusive), ``planCodes``,
``userTypes``, ``appVersions``, ``accountStatus``. ``Authorization: Bearer <token>`` is required
(401 without), and only the solution's own developer partner (and platform staff) may export
it (403). Rows come from a server-side cursor ``CHUNK_ROWS`` at a time and are written to a
small buffer that is flushed per chunk, so memory does not grow with the number of rows.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Select
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.auth import bearer_token
from gateway.csv_safety import SafeCsvWriter
from gateway.errors import BadUserInput, DomainError, Forbidden, GatewayError, NotFound, Unauthenticated
from gateway.faults import started_stream
from gateway.relay import decode_pk, encode_id
from gateway.sensitive import redact_message
from plugins.vertical.access import authorize_solution
from plugins.vertical.services.customers import CSV_HEADER, CustomerFilter, customer_conditions, export_statement

if TYPE_CHECKING:
    from gateway.runtime import Runtime

CHUNK_ROWS = 1000
PATH = "/exports/vertical/solutions/{solution_id}/customers.csv"


def _json_error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Response:
    body = {"errors": [{"message": redact_message(message), "extensions": {"code": code}}]}  # echoes parameters
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _list(request: Request, name: str) -> list[str] | None:
    values = [part.strip() for raw in request.query_params.getlist(name) for part in raw.split(",") if part.strip()]
    return values or None


def _date(request: Request, name: str) -> dt.date | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise BadUserInput(f"{name} must be a date as YYYY-MM-DD, got {raw!r}.") from None


def filter_from_params(request: Request) -> CustomerFilter:
    ids = _list(request, "ids")
    return CustomerFilter(
        instance_ids=[decode_pk(i, "SolutionInstance") for i in ids] if ids is not None else None,
        transaction_date_from=_date(request, "transactionDateFrom"),
        transaction_date_to=_date(request, "transactionDateTo"),
        plan_codes=_list(request, "planCodes"),
        user_types=_list(request, "userTypes"),
        app_versions=_list(request, "appVersions"),
        account_statuses=_list(request, "accountStatus"),
    )


def _iso(value: dt.date | None) -> str:
    return value.isoformat() if value is not None else ""


def csv_line(row: Sequence[Any]) -> list[object]:
    (pk, org_id, name, domain, country, status, user_type, test, plan, version, last_tx,
     data_used, data_limit, file_used, file_limit, installed_at) = row
    return [encode_id("SolutionInstance", pk), encode_id("Organization", org_id), name, domain, country or "",
            status, user_type, "true" if test else "false", plan or "", version, _iso(last_tx),
            data_used, data_limit, file_used, file_limit, _iso(installed_at)]


async def stream_rows(runtime: Runtime, stmt: Select[*tuple[Any, ...]]) -> AsyncIterator[bytes]:
    """The CSV as bytes: the header, then one chunk per CHUNK_ROWS rows read from a server-side cursor."""
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)  # text cells cannot become spreadsheet formulas
    writer.writerow(CSV_HEADER)  # sent with the first rows: nothing goes out before the database answered
    async with runtime.sessions() as session:
        result = await session.stream(stmt.execution_options(yield_per=CHUNK_ROWS))
        async for rows in result.partitions():
            for row in rows:
                writer.writerow(csv_line(row))
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


async def customers_csv(request: Request) -> Response:
    runtime = request.app.state.runtime
    try:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise Unauthenticated("Sign in: send 'Authorization: Bearer <token>'.")
        solution_pk = decode_pk(request.path_params["solution_id"], "Solution")
        filter = filter_from_params(request)
        customer_conditions(filter)  # validates before the response starts
        async with runtime.context(token=token, request=request) as ctx:
            await authorize_solution(ctx, "solution.export_customers", solution_pk)
    except Unauthenticated as error:
        return _json_error(401, error.message, error.code, {"WWW-Authenticate": "Bearer"})
    except Forbidden as error:
        return _json_error(403, error.message, error.code)
    except NotFound as error:
        return _json_error(404, error.message, error.code)
    except GatewayError as error:
        return _json_error(400, error.message, error.code)
    except DomainError as error:
        return _json_error(400, error.message, error.code)
    filename = f"solution-{solution_pk}-customers.csv"
    return StreamingResponse(
        await started_stream(stream_rows(runtime, export_statement(solution_pk, filter))),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


ROUTES = [Route(PATH, customers_csv, methods=["GET"])]
