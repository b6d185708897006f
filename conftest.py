"""Fixtures for every test (core and plugins): one runtime per backend, a clean database per test."""

from __future__ import annotations

from typing import Any, AsyncIterator

import pytest

from gateway.runtime import Runtime
from gateway.testing import dispose_shared_runtimes, run_query, shared_runtime, test_backends


@pytest.fixture(params=test_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def runtime(backend: str) -> AsyncIterator[Runtime]:
    yield await shared_runtime(backend)


@pytest.fixture
def gql(runtime: Runtime) -> Any:
    async def execute(query: str, variables: dict[str, Any] | None = None, *, token: str | None = None) -> Any:
        return await run_query(runtime, query, variables, token=token)

    return execute


@pytest.fixture(scope="session", autouse=True)
async def _dispose_shared_runtimes() -> AsyncIterator[None]:
    """Close the shared runtimes' connections on the loop that opened them."""
    yield
    await dispose_shared_runtimes()
