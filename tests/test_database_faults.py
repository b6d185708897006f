"""The database goes away: every request answers 503 SERVICE_UNAVAILABLE (JSON, Retry-After) within a bound.

The first part runs everywhere (SQLite, an unreachable port, resolvers and routes that raise a
lost-connection error). The second part runs a throw-away PostgreSQL server of its own (Debian's
binaries) that the tests stop, start, freeze (SIGSTOP) and thaw (SIGCONT) under one running app.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
import strawberry
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from starlette.routing import Route

from gateway.auth import get_or_create_user, issue_token
from gateway.composition import Query, extends
from gateway.db import create_engine
from gateway.faults import is_database_unavailable, started_stream
from gateway.hookspecs import hookimpl
from gateway.http import create_app
from gateway.runtime import Runtime
from gateway.settings import load_settings
from gateway.testing import create_tables, make_test_runtime
from schema.testing import build_world

JSON = "application/json"
VIEWER = "{ viewer { user { email } } }"
PRODUCTS = "{ products { code } }"  # needs the database inside a resolver
UNUSED_PORT = 18449  # in this suite's port range; nothing listens on it


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test", timeout=60)


async def post(http: httpx.AsyncClient, query: str, token: str | None = None) -> httpx.Response:
    headers = {"Content-Type": JSON, "Accept": JSON}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await http.post("/graphql", json={"query": query}, headers=headers)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/")
    assert response.headers["retry-after"].isdigit()
    codes = [e["extensions"]["code"] for e in response.json()["errors"]]
    assert codes and set(codes) == {"SERVICE_UNAVAILABLE"}, response.json()
    assert "retry" in response.json()["errors"][0]["message"].lower()


# ---------------------------------------------------------------- classification
@pytest.mark.parametrize("error", [
    ConnectionRefusedError(111, "Connection refused"),
    OSError("Multiple exceptions: [Errno 111] Connect call failed"),
    TimeoutError(),
    TimeoutError(),
    sa_exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached"),
    sa_exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True),
    sa_exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.exceptions.InterfaceError("cannot call Connection.fetch(): connection is closed"),
], ids=lambda e: type(e).__name__)
def test_lost_database_errors_are_recognised(error: Exception) -> None:
    assert is_database_unavailable(error)
    wrapped = RuntimeError("while resolving")
    wrapped.__cause__ = error
    assert is_database_unavailable(wrapped)  # anywhere in the chain


@pytest.mark.parametrize("error", [
    ValueError("bad"),
    sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
    sa_exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: users")),
    asyncpg.exceptions.UniqueViolationError("duplicate key value"),
    asyncpg.exceptions.InterfaceError("cannot perform operation: another operation is in progress"),
    FileNotFoundError("template.html"),
], ids=lambda e: type(e).__name__)
def test_bugs_are_not_mistaken_for_a_lost_database(error: Exception) -> None:
    assert not is_database_unavailable(error)


# ---------------------------------------------------------------- where it surfaces (no server needed)
async def test_timeouts_are_applied_to_the_engine() -> None:
    settings = load_settings(database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{UNUSED_PORT}/x",
                             db_connect_timeout=3, db_statement_timeout=7, db_pool_timeout=4, plugins="core")
    runtime = Runtime(settings)
    given: dict[str, Any] = {}

    class Captured(Exception):
        pass

    @event.listens_for(runtime.engine.sync_engine, "do_connect")
    def capture(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        given.update(cparams)  # what asyncpg.connect would be called with
        raise Captured()

    try:
        with pytest.raises(Exception):  # noqa: B017 - Captured, raised inside the driver's connect, may come back wrapped
            async with runtime.engine.connect():
                pass
    finally:
        await runtime.dispose()
    assert given["timeout"] == 3
    assert given["server_settings"]["statement_timeout"] == "7000"
    assert given["command_timeout"] > 7  # the client's bound is a backstop past the server's
    assert runtime.engine.pool.timeout() == 4  # type: ignore[attr-defined]
    assert runtime.engine.pool._pre_ping  # type: ignore[attr-defined]


async def test_unreachable_database_answers_503_json_quickly() -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{UNUSED_PORT}/gateway_h4_nothing"
    runtime = Runtime(load_settings(database_url=url, plugins="core", db_connect_timeout=2))
    try:
        async with client_for(create_app(runtime)) as http:
            started = time.monotonic()
            assert_unavailable(await post(http, VIEWER, token="pgw_some-token"))  # fails during authentication
            health = await http.get("/health")
            elapsed = time.monotonic() - started
    finally:
        await runtime.dispose()
    assert health.status_code == 503 and health.json()["status"] == "unavailable"
    assert health.headers["retry-after"]
    assert elapsed < 10


class LostConnection(Exception):
    """What a driver raises when the server closed the connection under a statement."""


def _lost() -> Exception:
    error = sa_exc.DBAPIError("SELECT 1", {}, LostConnection("server closed the connection"), connection_invalidated=True)
    return error


@extends(Query)
class LosesTheDatabase:
    @strawberry.field
    def lost(self) -> str:
        raise _lost()


async def _route_loses_database(request: Any) -> Any:
    raise _lost()


async def _route_has_a_bug(request: Any) -> Any:
    raise RuntimeError("a bug, password hunter2")


class LosingPlugin:
    @staticmethod
    @hookimpl
    def gateway_type_extensions() -> list[type]:
        return [LosesTheDatabase]

    @staticmethod
    @hookimpl
    def gateway_routes() -> list[Any]:
        return [Route("/exports/lost.csv", _route_loses_database), Route("/exports/bug.csv", _route_has_a_bug)]


@pytest.fixture
async def losing_app() -> AsyncIterator[httpx.AsyncClient]:
    runtime = make_test_runtime("sqlite", plugins=["core"], extra_plugins=[("losing", LosingPlugin)])
    await create_tables(runtime)
    try:
        async with client_for(create_app(runtime)) as http:
            yield http
    finally:
        await runtime.dispose()


async def test_resolver_that_loses_the_database_answers_503(losing_app: httpx.AsyncClient) -> None:
    response = await post(losing_app, "{ lost }")
    assert_unavailable(response)
    assert "errorId" not in response.text  # not masked as a bug


async def test_route_that_loses_the_database_answers_503_json(losing_app: httpx.AsyncClient) -> None:
    assert_unavailable(await losing_app.get("/exports/lost.csv"))


async def test_route_with_a_bug_answers_json_500_not_text(losing_app: httpx.AsyncClient) -> None:
    response = await losing_app.get("/exports/bug.csv")
    assert response.status_code == 500
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR" and error["extensions"]["errorId"]
    assert "hunter2" not in response.text


async def _chunks(fail_at: int | None) -> AsyncIterator[bytes]:
    for index in range(3):
        if index == fail_at:
            raise _lost()
        yield f"chunk{index};".encode()


async def test_started_stream_fails_before_the_response_or_streams_everything() -> None:
    with pytest.raises(sa_exc.DBAPIError):
        await started_stream(_chunks(fail_at=0))  # the first query: still time for a 503
    assert [chunk async for chunk in await started_stream(_chunks(fail_at=None))] == [b"chunk0;", b"chunk1;", b"chunk2;"]


async def test_export_whose_rows_cannot_be_read_answers_503_json(runtime: Any) -> None:
    world = await build_world(runtime)
    working_engine = runtime.engine
    # sign-in works (the sessions keep their engine); the rows are read from a database that is gone
    runtime.engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{UNUSED_PORT}/x", connect_timeout=2)
    try:
        async with client_for(create_app(runtime)) as http:
            response = await http.get("/exports/organizations.csv",
                                      headers={"Authorization": f"Bearer {world.tokens['platform_admin']}"})
    finally:
        await runtime.engine.dispose()
        runtime.engine = working_engine
    assert_unavailable(response)


# ---------------------------------------------------------------- a real PostgreSQL server the tests control
PG_BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
PG_PORT = 18441
BOUND_SECONDS = 12  # every request must answer within this while the database is down or frozen


def _postgres_user_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@dataclass
class ThrowAwayPostgres:
    bin_dir: str
    data_dir: str
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run([*_postgres_user_prefix(), f"{self.bin_dir}/pg_ctl", "-D", self.data_dir, *args],
                       check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} -c fsync=off"
        self._ctl("-o", options, "-l", f"{self.data_dir}/server.log", "-w", "-t", "30", "start")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "-w", "stop")

    def _pids(self) -> list[int]:
        with open(f"{self.data_dir}/postmaster.pid") as handle:
            postmaster = int(handle.readline())
        pids = [postmaster]
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(stat) as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                pids.append(int(stat.split("/")[2]))
        return pids

    def freeze(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGCONT)


def _cannot_run(reason: str) -> None:
    """Skip on a laptop without the server binaries; fail where the run demands the fault tests (.ci/run)."""
    if os.environ.get("GATEWAY_TEST_REQUIRE_FAULTS"):
        pytest.fail(f"GATEWAY_TEST_REQUIRE_FAULTS is set but the fault tests cannot run: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[ThrowAwayPostgres]:
    if not PG_BINARIES:
        _cannot_run("Debian's PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) are not installed")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _cannot_run("running as root needs runuser to start PostgreSQL as the postgres user")
    if not _port_free(PG_PORT):
        _cannot_run(f"port {PG_PORT} is taken")
    bin_dir = os.path.dirname(PG_BINARIES[-1])
    root = tempfile.mkdtemp(prefix="gateway-faults-pg-")
    data_dir = os.path.join(root, "data")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    subprocess.run([*_postgres_user_prefix(), f"{bin_dir}/initdb", "-D", data_dir, "-A", "trust", "-U", "postgres",
                    "--no-sync"], check=True, capture_output=True, timeout=120)
    server = ThrowAwayPostgres(bin_dir, data_dir, PG_PORT)
    try:
        server.start()  # inside: a start that fails still stops what it began and removes the folder
        yield server
    finally:
        try:
            server.thaw()
        except (OSError, ValueError):
            pass
        try:
            server.stop()
        except subprocess.SubprocessError:
            pass
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def pg_app(postgres_server: ThrowAwayPostgres) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    settings = load_settings(database_url=postgres_server.url, plugins="core", db_connect_timeout=2,
                             db_statement_timeout=2, db_pool_timeout=2)
    runtime = Runtime(settings)
    await create_tables(runtime)
    async with runtime.sessions() as session, session.begin():
        user = await get_or_create_user(session, "faults@example.com")
        _, token = await issue_token(session, user, "faults")
    try:
        async with client_for(create_app(runtime)) as http:
            yield http, token
    finally:
        await runtime.dispose()


async def _timed(coroutine: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await asyncio.wait_for(coroutine, BOUND_SECONDS * 2)  # a hang fails the test, never blocks it
    return response, time.monotonic() - started


async def _works(http: httpx.AsyncClient, token: str) -> None:
    for query in (VIEWER, PRODUCTS):
        response = await post(http, query, token)
        assert response.status_code == 200 and "errors" not in response.json(), response.text
    assert (await http.get("/health")).status_code == 200


async def _eventually_works(http: httpx.AsyncClient, token: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            await _works(http, token)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


@pytest.mark.timeout(180)
async def test_stopped_database_answers_503_then_recovers(pg_app: tuple[httpx.AsyncClient, str],
                                                          postgres_server: ThrowAwayPostgres) -> None:
    http, token = pg_app
    await _works(http, token)
    postgres_server.stop()
    try:
        for query in (VIEWER, PRODUCTS):
            response, elapsed = await _timed(post(http, query, token))
            assert_unavailable(response)
            assert elapsed < BOUND_SECONDS
        # what needs no database still answers (the cost budget's store being down lets requests through)
        assert (await _timed(post(http, "{ __typename }")))[0].json()["data"] == {"__typename": "Query"}
        # a persisted query sent by hash alone is looked up in the database
        by_hash = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "ab" * 32}}}
        assert_unavailable((await _timed(http.post("/graphql", json=by_hash, headers={"Accept": JSON})))[0])
        health, elapsed = await _timed(http.get("/health"))
        assert health.status_code == 503 and elapsed < 5
        export, elapsed = await _timed(http.get("/exports/organizations.csv",
                                                headers={"Authorization": f"Bearer {token}"}))
        assert_unavailable(export)
        assert elapsed < BOUND_SECONDS
    finally:
        postgres_server.start()
    await _eventually_works(http, token)  # the same app, no restart


@pytest.mark.timeout(180)
async def test_frozen_database_answers_503_within_the_timeout_then_recovers(
        pg_app: tuple[httpx.AsyncClient, str], postgres_server: ThrowAwayPostgres) -> None:
    http, token = pg_app
    await _works(http, token)
    postgres_server.freeze()
    try:
        health, elapsed = await _timed(http.get("/health"))
        assert health.status_code == 503 and elapsed < 5
        for query in (VIEWER, PRODUCTS):
            response, elapsed = await _timed(post(http, query, token))
            assert_unavailable(response)
            assert elapsed < BOUND_SECONDS
        # concurrent requests while frozen: each answers, none hangs on the pool
        answers = await asyncio.wait_for(
            asyncio.gather(*[post(http, VIEWER, token) for _ in range(5)]), BOUND_SECONDS * 2)
        for response in answers:
            assert_unavailable(response)
    finally:
        postgres_server.thaw()
    await _eventually_works(http, token)
