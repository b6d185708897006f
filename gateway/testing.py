"""Test kit for the host and for plugin authors: a runtime on a throw-away database, SQL counting, a client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

from gateway.db import Base, create_engine
from gateway.runtime import Runtime
from gateway.settings import Settings, load_settings

POSTGRES_ENV = "GATEWAY_TEST_POSTGRES_URL"


def test_backends() -> list[str]:
    """sqlite always; postgres too where GATEWAY_TEST_POSTGRES_URL is set."""
    return ["sqlite", "postgres"] if os.environ.get(POSTGRES_ENV) else ["sqlite"]


def test_database_url(backend: str) -> str:
    if backend == "sqlite":
        return "sqlite+aiosqlite://"
    return load_settings(database_url=os.environ[POSTGRES_ENV]).database_url


def make_test_engine(backend: str) -> AsyncEngine:
    if backend == "sqlite":
        return create_engine("sqlite+aiosqlite://", poolclass=StaticPool)
    # A throw-away test database need not wait for each commit to reach the disk.
    return create_engine(test_database_url(backend), connect_args={"server_settings": {"synchronous_commit": "off"}})


def make_test_runtime(backend: str, *, plugins: list[str] | None = None,
                      extra_plugins: list[tuple[str, object]] | None = None, **overrides: Any) -> Runtime:
    settings: Settings = load_settings(database_url=test_database_url(backend),
                                       plugins=",".join(plugins) if plugins is not None else None, **overrides)
    return Runtime(settings, extra_plugins=extra_plugins or [], engine=make_test_engine(backend))


async def create_tables(runtime: Runtime) -> None:
    async with runtime.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)


async def clear_tables(runtime: Runtime) -> None:
    """Empty every table, children first (on a handful of rows DELETE is much faster than TRUNCATE)."""
    async with runtime.engine.begin() as connection:
        if runtime.settings.is_sqlite:
            listing = "select name from sqlite_master where type = 'table'"
        else:
            listing = "select tablename from pg_tables where schemaname = current_schema()"
        existing: set[str] = set((await connection.execute(text(listing))).scalars().all())
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in existing:
                await connection.execute(table.delete())


@dataclass
class StatementCounter:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_statements(runtime: Runtime) -> Iterator[StatementCounter]:
    """Count the SQL statements the runtime's engine runs inside the block."""
    counter = StatementCounter()

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counter.statements.append(statement)

    event.listen(runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield counter
    finally:
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", record)


class GraphQLResult:
    def __init__(self, result: Any) -> None:
        self.data = result.data
        self.errors = [error.formatted for error in result.errors or []]

    @property
    def error_codes(self) -> list[str]:
        return [e.get("extensions", {}).get("code") for e in self.errors]

    def ok(self) -> Any:
        """The data, asserting there was no error (the errors are in the failure message)."""
        assert not self.errors, self.errors
        return self.data

    def __repr__(self) -> str:
        return f"GraphQLResult(data={self.data!r}, errors={self.errors!r})"


async def run_query(runtime: Runtime, query: str, variables: dict[str, Any] | None = None, *,
                    token: str | None = None) -> GraphQLResult:
    return GraphQLResult(await runtime.execute(query, variables, token=token))


_shared: dict[tuple[str, tuple[str, ...] | None], Runtime] = {}


async def shared_runtime(backend: str, plugins: list[str] | None = None) -> Runtime:
    """One runtime per (backend, plugins) for a whole test session, its tables emptied for each test."""
    key = (backend, tuple(plugins) if plugins is not None else None)
    runtime = _shared.get(key)
    if runtime is None:
        runtime = _shared[key] = make_test_runtime(backend, plugins=plugins)
        await create_tables(runtime)
    await clear_tables(runtime)
    return runtime


async def scan_shared_runtimes_for_card_data() -> list[str]:
    """Every card number or CVV left in the shared runtimes' databases, masked (``gateway db scan-pan``'s check).

    The write guard refuses card data on every engine, so this finds only what got past it (raw
    drivers, a guard bug); tests empty the tables, so it sees what the last tests left.
    """
    from gateway.pan_scan import scan_engine

    found = []
    for (backend, _plugins), runtime in _shared.items():
        report = await scan_engine(runtime.engine)
        found += [f"{backend}: {hit}" for hit in report.hits]
    return found


async def dispose_shared_runtimes() -> None:
    for runtime in _shared.values():
        await runtime.dispose()
    _shared.clear()
