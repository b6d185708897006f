"""Test kit for the host and for plugin authors: a runtime on a throw-away database, SQL counting, a client.

The pytest plugin ``schema.pytest_plugin`` (entry point ``pytest11``) turns these into fixtures;
the generic pieces live here: :class:`HookRecorder`, :func:`assert_access_matrix`, :class:`RoleClient`.
Roles are plain strings here (the keys of a token mapping); which roles exist is the schema's business.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import pluggy
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

from gateway.db import Base, create_engine
from gateway.events import DomainEvent
from gateway.jobs import run_job_once
from gateway.plugins import ALWAYS_ON
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


@asynccontextmanager
async def fresh_database(backend: str, folder: Path, name: str = "fresh") -> AsyncIterator[tuple[AsyncEngine, str]]:
    """An empty database for migration tests: (engine, url to give ``gateway db upgrade``).

    SQLite: the file ``folder/<name>.db``. PostgreSQL: a schema of its own (``<name>_<random>``) in the
    test database, the engine's search path set to it, dropped with everything in it afterwards.
    """
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{folder}/{name}.db"
        engine = create_engine(url)
        try:
            yield engine, url
        finally:
            await engine.dispose()
        return
    url = test_database_url(backend)
    schema = f"{name}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_engine(url, connect_args={"server_settings": {"search_path": schema}})
    try:
        yield engine, url
    finally:
        await engine.dispose()
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


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


async def run_job(runtime: Runtime, name: str, *, now: dt.datetime | None = None, **args: Any) -> dict[str, int]:
    """Run job ``name``'s body once, in-process, with the clock ``now`` (what ``gateway jobs run --as-of`` does);
    returns the counts it reported."""
    return await run_job_once(runtime, name, now=now, **args)


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
_loops: dict[tuple[str, tuple[str, ...] | None], asyncio.AbstractEventLoop] = {}


def _key(backend: str, plugins: list[str] | None) -> tuple[str, tuple[str, ...] | None]:
    return backend, tuple(sorted(set(plugins) | ALWAYS_ON)) if plugins is not None else None


async def shared_runtime(backend: str, plugins: list[str] | None = None) -> Runtime:
    """One runtime per (backend, plugins) for a whole test session, its tables emptied for each test.

    A PostgreSQL connection belongs to the event loop that opened it: where tests run on a loop of
    their own (pytest-asyncio's default function loop scope), each loop gets a fresh runtime and the
    previous one is dropped. SQLite connections serve any loop.
    """
    key = _key(backend, plugins)
    loop = asyncio.get_running_loop()
    runtime = _shared.get(key)
    if runtime is not None and backend != "sqlite" and _loops.get(key) is not loop:
        await _drop(runtime, _loops.get(key))
        runtime = None
    if runtime is None:
        runtime = _shared[key] = make_test_runtime(backend, plugins=plugins)
        _loops[key] = loop
        await create_tables(runtime)
    await clear_tables(runtime)
    return runtime


async def _drop(runtime: Runtime, loop: asyncio.AbstractEventLoop | None) -> None:
    """Dispose a runtime; a pool opened on another loop is let go without closing its connections."""
    if loop is None or loop is asyncio.get_running_loop() or loop.is_closed():
        await runtime.dispose()
    else:
        await runtime.engine.dispose(close=False)


def _reachable(key: tuple[str, tuple[str, ...] | None]) -> bool:
    return key[0] == "sqlite" or _loops.get(key) is asyncio.get_running_loop()


async def scan_shared_runtimes_for_card_data() -> list[str]:
    """Every card number or CVV left in the shared runtimes' databases, masked (``gateway db scan-pan``'s check).

    The write guard refuses card data on every engine, so this finds only what got past it (raw
    drivers, a guard bug); tests empty the tables, so it sees what the last tests left. A PostgreSQL
    runtime of another event loop is skipped (its database is the one every PostgreSQL runtime uses).
    """
    from gateway.pan_scan import scan_engine

    found = []
    for key, runtime in _shared.items():
        if _reachable(key):
            report = await scan_engine(runtime.engine)
            found += [f"{key[0]}: {hit}" for hit in report.hits]
    return found


async def dispose_shared_runtimes() -> None:
    for key, runtime in _shared.items():
        await _drop(runtime, _loops.get(key))
    _shared.clear()
    _loops.clear()


def has_shared_runtimes() -> bool:
    return bool(_shared)


class HookCall(NamedTuple):
    name: str
    kwargs: dict[str, Any]


class HookRecorder:
    """Records every hook call on a plugin manager while it is on (``with HookRecorder(pm) as recorder``).

    ``calls`` is a list of (hook name, keyword arguments); ``events`` the domain events passed to
    ``gateway_event``. Uses pluggy's ``add_hookcall_monitoring``, undone on exit.
    """

    def __init__(self, plugin_manager: pluggy.PluginManager) -> None:
        self.plugin_manager = plugin_manager
        self.calls: list[HookCall] = []
        self._undo: Callable[[], None] | None = None

    def start(self) -> HookRecorder:
        if self._undo is None:
            self._undo = self.plugin_manager.add_hookcall_monitoring(self._before, self._after)
        return self

    def stop(self) -> None:
        if self._undo is not None:
            self._undo()
            self._undo = None

    def __enter__(self) -> HookRecorder:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def _before(self, hook_name: str, hook_impls: object, kwargs: Mapping[str, object]) -> None:
        self.calls.append(HookCall(hook_name, dict(kwargs)))

    def _after(self, outcome: object, hook_name: str, hook_impls: object, kwargs: Mapping[str, object]) -> None:
        pass

    def called(self, name: str) -> list[dict[str, Any]]:
        """The keyword arguments of each call of hook ``name``, in order (empty: it was not called)."""
        return [call.kwargs for call in self.calls if call.name == name]

    @property
    def events(self) -> list[DomainEvent]:
        """The domain events handed to ``gateway_event``, in order."""
        return [kwargs["event"] for kwargs in self.called("gateway_event")]

    def event_types(self) -> list[str]:
        return [event.type for event in self.events]

    def clear(self) -> None:
        self.calls.clear()


OK = "ok"
Run = Callable[[str, str | None], Awaitable[GraphQLResult]]
OkCheck = Callable[[str, GraphQLResult], str | None | Awaitable[str | None]]


def outcome_of(result: GraphQLResult) -> str:
    """``"ok"``, the first top-level error code, or the first ``userErrors`` code of a top-level payload."""
    if result.errors:
        return result.error_codes[0] or "ERROR"
    for value in (result.data or {}).values():
        if isinstance(value, dict) and value.get("userErrors"):
            return str(value["userErrors"][0].get("code") or "USER_ERROR")
    return OK


async def assert_access_matrix(outcomes: Mapping[str, str], run: Run, *, tokens: Mapping[str, str | None],
                               ok: OkCheck | None = None) -> dict[str, str]:
    """Run ``run(role, token)`` once per role of ``outcomes`` and compare each outcome; every mismatch at once.

    An outcome is ``"ok"``, a top-level error code (``"FORBIDDEN"``, ``"UNAUTHENTICATED"``,
    ``"NOT_FOUND"``...) or a ``userErrors`` code (:func:`outcome_of`). For each ``"ok"`` result
    ``ok(role, result)`` (sync or async) checks the effect: an AssertionError is that role's
    mismatch, a string returned replaces ``"ok"`` (e.g. ``"hidden"``). An AssertionError raised
    by ``run`` itself is that role's mismatch too. Returns the outcomes seen.
    """
    seen: dict[str, str] = {}
    mismatches: list[str] = []
    for role, expected in outcomes.items():
        if role not in tokens:
            mismatches.append(f"{role}: no token for this role (known: {', '.join(sorted(tokens))})")
            continue
        try:
            result = await run(role, tokens[role])
        except AssertionError as error:  # a check of the run itself (e.g. nothing written when refused)
            seen[role] = "failed"
            mismatches.append(f"{role}: expected {expected}, the run failed: {error}")
            continue
        got = outcome_of(result)
        detail = ""
        if got == OK and ok is not None:
            try:
                refined = ok(role, result)
                if inspect.isawaitable(refined):
                    refined = await refined
            except AssertionError as error:
                refined, detail = "ok, but the check failed", f": {error}"
            if isinstance(refined, str):
                got = refined
        seen[role] = got
        if got != expected:
            mismatches.append(f"{role}: expected {expected}, got {got}{detail or f' ({result!r})'}")
    if mismatches:
        raise AssertionError(f"access matrix: {len(mismatches)} of {len(outcomes)} roles differ\n  "
                             + "\n  ".join(mismatches))
    return seen


class RoleClient:
    """Runs GraphQL documents on a runtime as a role: the token of ``tokens[role]``."""

    def __init__(self, runtime: Runtime, tokens: Mapping[str, str | None], role: str) -> None:
        self.runtime = runtime
        self.tokens = tokens
        self.role = role

    def token(self, role: str | None = None) -> str | None:
        key = role or self.role
        if key not in self.tokens:
            raise KeyError(f"no token for role {key!r} (known: {', '.join(sorted(self.tokens))})")
        return self.tokens[key]

    async def query(self, document: str, variables: dict[str, Any] | None = None, *,
                    role: str | None = None) -> GraphQLResult:
        return await run_query(self.runtime, document, variables, token=self.token(role))

    def as_role(self, role: str) -> RoleClient:
        self.token(role)  # an unknown role fails here, not at the first query
        return RoleClient(self.runtime, self.tokens, role)
