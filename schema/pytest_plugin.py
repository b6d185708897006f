"""The gateway's test kit as a pytest plugin (entry point ``pytest11``: ``partner_gateway``).

Installed with the gateway, so a plugin's tests anywhere (this repository or their own package)
get these fixtures without a conftest of this repository:

    gateway_plugins   the plugins to enable, ``None``: every installed one (the core is always on);
                      override it in your conftest: ``@pytest.fixture def gateway_plugins(): return ["backup"]``
    backend           "sqlite"; "postgres" too when GATEWAY_TEST_POSTGRES_URL is set (parametrized)
    runtime           a ``gateway.runtime.Runtime`` with exactly those plugins, tables created, emptied per test
    gql               ``await gql(query, variables=None, *, token=None)`` -> ``gateway.testing.GraphQLResult``
    world             ``schema.testing.build_world``: ``world.tokens[role]`` for every role of ``schema.testing.ROLES``
    client            ``await client.query(doc, variables=None, *, role="org_admin")``; ``client.as_role(role)``
    count_sql         ``with count_sql() as counter: ...`` then ``counter.count`` / ``counter.statements``
    hook_recorder     the hook calls of the test: ``.calls``, ``.called(name)``, ``.events``, ``.event_types()``
    assert_access_matrix  ``await assert_access_matrix({role: expected}, run, ok=None)`` with ``world.tokens``

At the end of the session the test databases are scanned for card data (a hit fails the run)
and their connections closed. This module is imported at every pytest start (``pytest --help``
too): it imports nothing heavy and opens no connection until a fixture asks for a runtime.
Settings come from the environment as for the gateway itself; nothing is forced on GATEWAY_*.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio

if TYPE_CHECKING:
    from gateway.runtime import Runtime
    from gateway.testing import GraphQLResult, HookRecorder, OkCheck, RoleClient, Run, StatementCounter
    from schema.testing import World

# gateway.testing.POSTGRES_ENV, not imported from there: that module loads SQLAlchemy and the host
POSTGRES_ENV = "GATEWAY_TEST_POSTGRES_URL"
DEFAULT_ROLE = "org_admin"


def backends() -> list[str]:
    return ["sqlite", "postgres"] if os.environ.get(POSTGRES_ENV) else ["sqlite"]


@pytest.fixture
def gateway_plugins() -> list[str] | None:
    """The plugins the runtime enables (None: every installed plugin); a conftest overrides this."""
    return None


@pytest.fixture(params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    param: str = request.param
    return param


@pytest_asyncio.fixture
async def runtime(backend: str, gateway_plugins: list[str] | None) -> Runtime:
    """A runtime with exactly ``gateway_plugins`` (and the core) on a throw-away database, emptied for this test."""
    from gateway.testing import shared_runtime

    return await shared_runtime(backend, gateway_plugins)


@pytest.fixture
def gql(runtime: Runtime) -> Callable[..., object]:
    from gateway.testing import run_query

    async def execute(query: str, variables: dict[str, object] | None = None, *,
                      token: str | None = None) -> GraphQLResult:
        return await run_query(runtime, query, variables, token=token)

    return execute


@pytest_asyncio.fixture
async def world(runtime: Runtime) -> World:
    """The standard world (``schema.testing.build_world``); a plugin's conftest may return a bigger one."""
    from schema.testing import build_world

    return await build_world(runtime)


@pytest.fixture
def client(runtime: Runtime, world: World) -> RoleClient:
    from gateway.testing import RoleClient

    return RoleClient(runtime, world.tokens, DEFAULT_ROLE)


@pytest.fixture
def count_sql(runtime: Runtime) -> Callable[..., AbstractContextManager[StatementCounter]]:
    from gateway.testing import count_statements

    def counting(on: Runtime | None = None) -> AbstractContextManager[StatementCounter]:
        return count_statements(on or runtime)

    return counting


@pytest.fixture
def hook_recorder(runtime: Runtime) -> Iterator[HookRecorder]:
    from gateway.testing import HookRecorder

    with HookRecorder(runtime.plugin_manager) as recorder:
        yield recorder


@pytest.fixture
def assert_access_matrix(world: World) -> Callable[..., object]:
    from gateway.testing import assert_access_matrix as check

    async def assert_matrix(outcomes: Mapping[str, str], run: Run, *, ok: OkCheck | None = None) -> dict[str, str]:
        return await check(outcomes, run, tokens=world.tokens, ok=ok)

    return assert_matrix


@pytest_asyncio.fixture(scope="session", loop_scope="session", autouse=True)
async def _gateway_test_databases() -> AsyncIterator[None]:
    """At the end: no card data in the test databases (issue 11), then close their connections on their loop."""
    yield
    testing = sys.modules.get("gateway.testing")
    if testing is None or not testing.has_shared_runtimes():
        return
    try:
        card_data = await testing.scan_shared_runtimes_for_card_data()
    finally:
        await testing.dispose_shared_runtimes()
    assert not card_data, "card data found in the test databases (gateway db scan-pan):\n" + "\n".join(card_data)
