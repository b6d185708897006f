"""When the database cannot be reached: recognise it wherever it surfaces and answer 503, never hang or crash.

A lost, refused, frozen or overloaded database shows up as many exception types depending on
where it is met: ``OSError`` while connecting, ``TimeoutError`` from a connect/command/pool
timeout, asyncpg's connection errors and SQLSTATE classes, SQLAlchemy's wrappers around them
(often with ``connection_invalidated``), or SQLite's "database is locked". They all mean the
same to a client: try again shortly. ``is_database_unavailable`` recognises them anywhere in an
exception's chain; the GraphQL endpoint, the error masking of resolvers, the export routes and
``DatabaseFaultGuard`` (the outermost safety net) turn them into ``SERVICE_UNAVAILABLE`` + 503.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
from sqlalchemy import exc as sa_exc
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import GatewayError

log = logging.getLogger("gateway.faults")

RETRY_AFTER_SECONDS = 5
UNAVAILABLE_MESSAGE = "The database is unavailable at the moment; retry in a few seconds."

# SQLSTATE: 08 connection exception; 57P01-03 admin/crash shutdown, cannot connect now (starting up);
# 57014 statement cancelled (GATEWAY_DB_STATEMENT_TIMEOUT); 53 insufficient resources (too many connections).
UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "57P", "57014", "53")
SQLITE_UNAVAILABLE_MESSAGES = ("database is locked", "unable to open database file", "disk i/o error")
FILE_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)


class ServiceUnavailable(GatewayError):
    code = "SERVICE_UNAVAILABLE"

    def __init__(self, message: str = UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message, retryAfterSeconds=RETRY_AFTER_SECONDS)


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and everything it was raised from or during, and the driver errors SQLAlchemy wrapped."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)  # SQLAlchemy's wrapper -> the driver's error
        todo.extend([current.__cause__, current.__context__, orig if isinstance(orig, BaseException) else None])


def _is_unavailable_one(error: BaseException) -> bool:
    if isinstance(error, ServiceUnavailable):
        return True
    if isinstance(error, FILE_ERRORS):  # an OSError, but about a file, not a connection
        return False
    if isinstance(error, (OSError, TimeoutError)):  # refused/reset connections; connect, command and wait_for timeouts
        return True
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection within GATEWAY_DB_POOL_TIMEOUT
        return True
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(UNAVAILABLE_SQLSTATE_PREFIXES):
        return True
    if type(error).__module__.startswith("asyncpg") and type(error).__name__ == "InterfaceError":
        return "connection is closed" in str(error) or "connection was closed" in str(error)
    if isinstance(error, sqlite3.OperationalError):
        return str(error).lower().startswith(SQLITE_UNAVAILABLE_MESSAGES)
    return False


def is_database_unavailable(error: BaseException) -> bool:
    """True when ``error`` (or anything it was raised from) means the database cannot be used right now."""
    return any(_is_unavailable_one(item) for item in exception_chain(error))


def unavailable_body() -> dict[str, Any]:
    return {"errors": [{"message": UNAVAILABLE_MESSAGE,
                        "extensions": {"code": ServiceUnavailable.code, "retryAfterSeconds": RETRY_AFTER_SECONDS}}]}


def retry_after_header() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)}


async def started_stream(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` run up to its first chunk now, before the response starts, then streamed as they come.

    A streamed export whose first query meets an unavailable database then fails while a 503 can
    still be sent; after the first chunk, a failure can only cut the response short.
    """
    try:
        first = await chunks.__anext__()
    except StopAsyncIteration:
        first = b""

    async def rest() -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            async for chunk in chunks:
                yield chunk
        finally:
            close = getattr(chunks, "aclose", None)  # an async generator: end it (its cursor) now, not at GC
            if close is not None:
                await close()

    return rest()


class DatabaseFaultGuard:
    """The last safety net: an exception no route handled becomes a JSON answer, not text/plain or a dropped line.

    A database that is unavailable gives 503 ``SERVICE_UNAVAILABLE`` with ``Retry-After``; any other
    exception gives 500 ``INTERNAL_SERVER_ERROR`` with an error id (the log has the stack). Once a
    response has started (a CSV export half streamed) nothing can be changed: the error is re-raised
    and the server ends the response, which a client sees as a truncated transfer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            if started:
                raise
            if is_database_unavailable(error):
                log.warning("database unavailable at %s: %r", scope.get("path"), error)
                status, body, headers = 503, unavailable_body(), retry_after_header()
            else:
                error_id = uuid.uuid4().hex[:16]
                log.error("unexpected error %s at %s", error_id, scope.get("path"), exc_info=error)
                status, headers = 500, {}
                body = {"errors": [{"message": f"Internal server error (error id {error_id})",
                                    "extensions": {"code": "INTERNAL_SERVER_ERROR", "errorId": error_id}}]}
            raw = orjson.dumps(body)
            await send({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(raw)).encode()),
                *[(name.lower().encode(), value.encode()) for name, value in headers.items()],
            ]})
            await send({"type": "http.response.body", "body": raw})
