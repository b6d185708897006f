"""Fixtures for every test (core and plugins): one runtime per backend, a clean database per test."""

from __future__ import annotations

from typing import Any, AsyncIterator

import pytest

from gateway.runtime import Runtime
from gateway.testing import clear_tables, create_tables, make_test_runtime, run_query, test_backends

_runtimes: dict[tuple[str, tuple[str, ...] | None], Runtime] = {}


@pytest.fixture(params=test_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


async def runtime_for(backend: str, plugins: list[str] | None = None) -> Runtime:
    """A shared runtime for (backend, plugins) with every table created, emptied for this test."""
    key = (backend, tuple(plugins) if plugins is not None else None)
    runtime = _runtimes.get(key)
    if runtime is None:
        runtime = _runtimes[key] = make_test_runtime(backend, plugins=plugins)
        await create_tables(runtime)
    await clear_tables(runtime)
    return runtime


@pytest.fixture
async def runtime(backend: str) -> AsyncIterator[Runtime]:
    yield await runtime_for(backend)


@pytest.fixture
def gql(runtime: Runtime) -> Any:
    async def execute(query: str, variables: dict[str, Any] | None = None, *, token: str | None = None) -> Any:
        return await run_query(runtime, query, variables, token=token)

    return execute


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import asyncio

    async def dispose() -> None:
        for runtime in _runtimes.values():
            await runtime.dispose()

    try:
        asyncio.run(dispose())
    except RuntimeError:
        pass
