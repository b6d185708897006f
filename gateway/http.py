"""GraphQL over HTTP (the GraphQL-over-HTTP specification), health and plugin routes, on Starlette."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import OperationDefinitionNode, OperationType
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from gateway import tracing
from gateway.auth import bearer_token
from gateway.cost import CostCheck, check_query_cost, parse_document, price_query, select_operation
from gateway.errors import Unauthenticated
from gateway.faults import DatabaseFaultGuard, is_database_unavailable, retry_after_header, unavailable_body
from gateway.graphiql import graphiql_off_page, graphiql_page, graphiql_routes
from gateway.job_runner import running_jobs
from gateway.logging import RequestLogMiddleware, configure_logging
from gateway.metrics import GatewayMetrics
from gateway.persisted import PersistedQueryError, resolve_persisted_query
from gateway.plugins import contributions, enabled_plugins
from gateway.runtime import Runtime
from gateway.sensitive import redact_response_errors
from gateway.validation import document_checker

GRAPHQL_RESPONSE = "application/graphql-response+json"
MAX_BODY_BYTES = 1_000_000
JSON = "application/json"


class HttpError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, code: str = "BAD_REQUEST") -> None:
        super().__init__(message)
        self.status, self.message, self.headers, self.code = status, message, headers or {}, code


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or None when nothing the client accepts can be served."""
    if not accept or not accept.strip():
        return JSON
    offers: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, *params = [p.strip() for p in part.split(";")]
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        if quality <= 0:
            continue
        if media in (GRAPHQL_RESPONSE, JSON):
            offers.append((quality, -position, media))
        elif media in ("*/*", "application/*"):  # GraphQL over HTTP: a wildcard gets application/json
            offers.append((quality - 0.0001, -position, JSON))
    if not offers:
        return None
    return max(offers)[2]


def _error_body(message: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, **extra}}]}


def _response(body: dict[str, Any] | list[dict[str, Any]], status: int, media: str, headers: dict[str, str] | None = None) -> Response:
    content_type = f"{media}; charset=utf-8"
    return Response(orjson.dumps(redact_response_errors(body)), status_code=status, media_type=content_type,
                    headers=headers)


def _operation_selection_problem(query: str, operation_name: str | None) -> str | None:
    """Why ``operationName`` selects no operation of the document (GraphQL's GetOperation), if it does not."""
    document = parse_document(query)
    if document is None:
        return None  # a syntax error: execution reports it with its location
    names = [d.name.value if d.name else "(anonymous)" for d in document.definitions
             if isinstance(d, OperationDefinitionNode)]
    if not names:
        return "The document has no operation (only fragments): add a query, mutation or subscription."
    listed = ", ".join(names)
    if operation_name is not None and operation_name not in names:
        return f"The document has no operation named {operation_name!r}; its operations: {listed}."
    if operation_name is None and len(names) > 1:
        return f"The document has several operations ({listed}): send `operationName` to choose one."
    return None


def _operation_type(query: str, operation_name: str | None) -> OperationType | None:
    document = parse_document(query)  # the cost check's cached parse
    operation = select_operation(document, operation_name) if document is not None else None
    return operation.operation if operation is not None else None


def _read_params(raw: Any, *, from_query_string: bool) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise HttpError(400, "The request body must be a JSON object with a `query`.")
    params: dict[str, Any] = {}
    for name in ("variables", "extensions"):
        value = raw.get(name)
        if from_query_string and isinstance(value, str):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError:
                raise HttpError(400, f"`{name}` is not valid JSON.") from None
        if value is not None and not isinstance(value, dict):
            raise HttpError(400, f"`{name}` must be a JSON object.")
        params[name] = value
    query = raw.get("query")
    if query is not None and not isinstance(query, str):
        raise HttpError(400, "`query` must be a string.")
    operation_name = raw.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise HttpError(400, "`operationName` must be a string.")
    params["query"] = query
    params["operationName"] = operation_name or None
    return params


class GraphQLEndpoint:
    def __init__(self, runtime: Runtime, metrics: GatewayMetrics | None = None) -> None:
        self.runtime = runtime
        self.metrics = metrics or GatewayMetrics()

    async def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        media = negotiate(request.headers.get("accept"))
        status = 500
        try:
            if request.method == "GET" and self._is_browser_visit(request):
                status = 200
                settings = self.runtime.settings
                if not settings.graphiql:
                    return HTMLResponse(graphiql_off_page(str(request.url)))
                return HTMLResponse(graphiql_page(settings.demo_token_prefill,
                                                  self.runtime.plugin_manager.hook.gateway_graphiql_query()))
            if media is None:
                raise HttpError(406, f"Accept {GRAPHQL_RESPONSE} or {JSON}.", code="NOT_ACCEPTABLE")
            response = await self._handle(request, media)
            status = response.status_code
            return response
        except HttpError as error:
            status = error.status
            return _response(_error_body(error.message, error.code), error.status, media or JSON, error.headers)
        except Exception as error:  # authentication, budget, persisted queries, commit: the database may be gone
            if not is_database_unavailable(error):
                raise
            status = 503
            return _response(unavailable_body(), 503, media or JSON, retry_after_header())
        finally:
            self.metrics.observe_request(request.method, status, time.perf_counter() - started)

    def _is_browser_visit(self, request: Request) -> bool:
        return "text/html" in request.headers.get("accept", "") and "query" not in request.query_params

    async def _handle(self, request: Request, media: str) -> Response:
        if request.method == "GET":
            params = _read_params(dict(request.query_params), from_query_string=True)
            batch = None
        elif request.method == "POST":
            content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type != JSON:
                raise HttpError(415, f"Send the request as {JSON}.", code="UNSUPPORTED_MEDIA_TYPE")
            raw = await _read_body(request)
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as error:
                raise HttpError(400, f"The request body is not valid JSON: {error}.") from None
            if isinstance(body, list):
                settings = self.runtime.settings
                if not settings.batching:
                    raise HttpError(400, "Batched requests are disabled on this gateway; send one operation per request.")
                if not body or len(body) > settings.batching_max:
                    raise HttpError(400, f"A batch holds 1 to {settings.batching_max} operations.")
                batch = [_read_params(item, from_query_string=False) for item in body]
                params = {}
            else:
                batch = None
                params = _read_params(body, from_query_string=False)
        else:
            raise HttpError(405, "Use GET for queries or POST.", headers={"Allow": "GET, POST"},
                            code="METHOD_NOT_ALLOWED")

        # before authentication: a refused document costs no SQL statement and no budget
        anonymous = not request.headers.get("authorization")
        checks = [self._check(item, media, anonymous) for item in (batch if batch is not None else [params])]
        settled = [check.refusal for check in checks if check.refusal is not None]
        if len(settled) == len(checks):
            if batch is None:
                body, status = settled[0]
                return _response(body, status, media)
            return _response([body for body, _ in settled], 200, media)

        try:
            token = bearer_token(request.headers.get("authorization"))
        except Unauthenticated as error:
            raise HttpError(401, error.message, headers={"WWW-Authenticate": "Bearer"}, code="UNAUTHENTICATED") from None

        try:
            async with self.runtime.context(token=token, request=request) as ctx:
                if batch is not None:
                    results = [await self._traced_execute(ctx, item, media, request.method, check)
                               for item, check in zip(batch, checks, strict=True)]
                    return _response([body for body, _ in results], 200, media)
                body, status = await self._traced_execute(ctx, params, media, request.method, checks[0])
                return _response(body, status, media, _retry_after_header(body) if status in (429, 503) else None)
        except Unauthenticated as error:
            raise HttpError(401, error.message, headers={"WWW-Authenticate": "Bearer"}, code="UNAUTHENTICATED") from None

    async def _traced_execute(self, ctx: Any, params: dict[str, Any], media: str, method: str,
                              check: DocumentCheck) -> tuple[dict[str, Any], int]:
        """``_execute`` in one span per operation (when tracing is on): its type and name, cost and error
        codes; never the variables."""
        if not tracing.enabled():
            return await self._execute(ctx, params, media, method, check)
        query, name = params.get("query"), params.get("operationName")
        document = parse_document(query) if isinstance(query, str) and query else None  # the cost check's parse
        operation = select_operation(document, name) if document is not None else None
        kind = operation.operation if operation is not None else None
        name = operation.name.value if operation is not None and operation.name else None
        span_name = " ".join(part for part in ((kind.value if kind else "operation"), name) if part)
        with tracing.span(span_name, attributes={"graphql.operation.type": kind.value if kind else None,
                                                 "graphql.operation.name": name}) as span:
            body, status = await self._execute(ctx, params, media, method, check)
            codes = [str(e.get("extensions", {}).get("code") or "") for e in body.get("errors", [])
                     if isinstance(e, dict)]
            cost = body.get("extensions", {}).get("cost", {}).get("requestedQueryCost")
            span.set_attributes({"graphql.error.count": len(codes), "graphql.error.codes": sorted(set(codes) - {""}),
                                 "http.response.status_code": status,
                                 **({"graphql.cost": cost} if isinstance(cost, int) else {})})
            return body, status

    async def _execute(self, ctx: Any, params: dict[str, Any], media: str, method: str,
                       check: DocumentCheck) -> tuple[dict[str, Any], int]:
        request_error_status = 400 if media == GRAPHQL_RESPONSE else 200
        try:
            query = await resolve_persisted_query(self.runtime, params.get("query"), params.get("extensions"))
        except PersistedQueryError as error:
            return _error_body(error.message, error.code), 200 if error.code == "PERSISTED_QUERY_NOT_FOUND" else request_error_status
        if not query:
            raise HttpError(400, "The request has no `query`.")
        operation_name = params.get("operationName")
        if method == "GET" and _operation_type(query, operation_name) == OperationType.MUTATION:
            raise HttpError(405, "Mutations must be sent with POST.", headers={"Allow": "POST"},
                            code="METHOD_NOT_ALLOWED")
        if check.priced is None:  # sent by persisted-query hash alone: checked now, still before the budget
            check = self._check({**params, "query": query}, media, not ctx.viewer.is_authenticated)
        if check.refusal is not None:
            return check.refusal
        ctx.cost.clear()
        priced = await check_query_cost(ctx, query, params.get("variables"), operation_name, priced=check.priced)
        if priced.refusal is not None:
            refused = _error_body(priced.refusal.message, **priced.refusal.extensions)
            if ctx.cost:
                refused["extensions"] = {"cost": dict(ctx.cost)}
            return refused, 429 if priced.refusal.code == "RATE_LIMITED" else request_error_status
        result = await self.runtime.schema.execute(
            query, variable_values=params.get("variables"), context_value=ctx, operation_name=operation_name,
        )
        body: dict[str, Any] = {}
        errors = [error.formatted for error in result.errors or []]
        self.metrics.count_errors([e.get("extensions", {}).get("code", "") for e in errors])
        request_error = result.data is None and errors and all("path" not in e for e in errors)
        if errors:
            body["errors"] = errors
        if not request_error:
            body["data"] = result.data
        if ctx.cost:
            body["extensions"] = {"cost": dict(ctx.cost)}
        status = 200
        if any(e.get("extensions", {}).get("code") == "SERVICE_UNAVAILABLE" for e in errors):
            status = 503  # a resolver lost the database: partial data, but the client should retry
        elif request_error:
            codes = {e.get("extensions", {}).get("code") for e in errors}
            if "RATE_LIMITED" in codes:
                status = 429
            else:
                status = request_error_status
        return body, status

    def _check(self, params: dict[str, Any], media: str, anonymous: bool) -> DocumentCheck:
        """Check and price a document without any I/O (gateway.validation, then its cost), once per request.

        An operation sent by persisted-query hash alone has no text yet: ``_execute`` checks it once known.
        """
        query = params.get("query")
        if not query:
            return DocumentCheck()
        status = 400 if media == GRAPHQL_RESPONSE else 200
        errors = document_checker(self.runtime.schema).check(query, anonymous)
        if errors:
            formatted = [error.formatted for error in errors]
            self.metrics.count_errors([e.get("extensions", {}).get("code", "") for e in formatted])
            return DocumentCheck(refusal=({"errors": formatted}, status))
        problem = _operation_selection_problem(query, params.get("operationName"))
        if problem is not None:  # a request error, not an unhandled one (GraphQL-over-HTTP)
            self.metrics.count_errors(["BAD_USER_INPUT"])
            return DocumentCheck(refusal=(_error_body(problem, "BAD_USER_INPUT"), status))
        priced = price_query(self.runtime, query, params.get("variables"), params.get("operationName"))
        if priced.refusal is None:
            return DocumentCheck(priced=priced)
        self.metrics.count_errors([priced.refusal.code])
        return DocumentCheck(refusal=(_error_body(priced.refusal.message, **priced.refusal.extensions), status),
                             priced=priced)


@dataclass(frozen=True)
class DocumentCheck:
    """What the I/O-free check of one operation found: the answer refusing it, or its price (None: not checked yet)."""

    refusal: tuple[dict[str, Any], int] | None = None
    priced: CostCheck | None = None


async def _read_body(request: Request) -> bytes:
    """The request body, refused (413) past MAX_BODY_BYTES: from Content-Length before reading a byte,
    and while it streams when there is none (chunked), so a huge body is never held in memory."""
    too_large = HttpError(413, f"The request body is over {MAX_BODY_BYTES} bytes.", code="PAYLOAD_TOO_LARGE")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise HttpError(400, "The Content-Length header is not a number.")
        if int(declared) > MAX_BODY_BYTES:
            raise too_large
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after_header(body: dict[str, Any]) -> dict[str, str] | None:
    for error in body.get("errors", []):
        seconds = error.get("extensions", {}).get("retryAfterSeconds")
        if seconds is not None:
            return {"Retry-After": str(seconds)}
    return None


HEALTH_TIMEOUT_SECONDS = 3.0  # a load balancer probing a frozen database must get an answer, not a hang


async def _database_answers(runtime: Runtime) -> None:
    async with runtime.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def _database_check(app: Any) -> asyncio.Future[None]:
    """The probe in flight, shared by concurrent /health requests.

    It runs as its own task: cancelling a connection stuck on a frozen server makes the driver
    try a graceful close first, which would hold the answer past the timeout. The task ends on
    its own; one at a time, so probes of a frozen database do not pile up.
    """
    check: asyncio.Future[None] | None = getattr(app.state, "database_check", None)
    if check is None or check.done():
        check = asyncio.ensure_future(_database_answers(app.state.runtime))
        check.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved: no warning
        app.state.database_check = check
    return check


async def health(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    check = _database_check(request.app)
    await asyncio.wait({check}, timeout=HEALTH_TIMEOUT_SECONDS)
    problem = "TimeoutError" if not check.done() else (
        "cancelled" if check.cancelled() else (type(check.exception()).__name__ if check.exception() else None))
    if problem is not None:  # health reports, never raises
        return JSONResponse({"status": "unavailable", "database": problem}, status_code=503,
                            headers=retry_after_header())
    return JSONResponse({"status": "ok", "database": "ok",
                         "plugins": [name for name, _ in enabled_plugins(runtime.plugin_manager)]})


def create_app(runtime: Runtime | None = None) -> Starlette:
    runtime = runtime or Runtime()
    configure_logging(runtime.settings.log_level)
    metrics = GatewayMetrics(token=runtime.settings.metrics_token, production=runtime.settings.is_production)
    endpoint = GraphQLEndpoint(runtime, metrics)
    routes = [
        # a bound method: Starlette treats a callable instance as a raw ASGI app, a method as a request handler
        Route("/graphql", endpoint.__call__, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics.endpoint, methods=["GET"]),
    ]
    if runtime.settings.graphiql:
        routes.extend(graphiql_routes())
    for _, plugin_routes in contributions(runtime.plugin_manager, "gateway_routes"):
        routes.extend(plugin_routes)
    middleware = [Middleware(RequestLogMiddleware)]
    if runtime.settings.cors_origins:
        middleware.append(Middleware(
            CORSMiddleware, allow_origins=runtime.settings.cors_origins, allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept", "apollographql-client-name",
                           "apollographql-client-version", "apollo-require-preflight", "x-apollo-operation-name"],
            expose_headers=["Retry-After", "Content-Disposition"], max_age=600,
        ))
    middleware.append(Middleware(DatabaseFaultGuard))  # innermost: its JSON answers still get CORS and the log line

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:  # Starlette 1.x has no on_shutdown
        tune_garbage_collector()
        async with running_jobs(runtime):  # GATEWAY_JOBS_IN_PROCESS (gateway serve on SQLite): gateway/job_runner.py
            yield
        await runtime.dispose()

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.runtime = runtime
    tracing.instrument_app(app)  # one span per request, outermost, when GATEWAY_OTEL_ENABLED
    return app


def tune_garbage_collector() -> None:
    """Freeze what start-up built and collect the young generation less often.

    Resolving a query makes many short-lived objects; with the default thresholds the cyclic
    collector re-scans the long-lived schema and modules again and again. benchmarks/dashboard.py
    measured the partner-console query 25-35% faster with this (see DESIGN.md, "Execution speed").
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
