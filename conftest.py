"""Fixtures for every test (core and plugins): one runtime per backend, a clean database per test."""

from __future__ import annotations

from typing import Any, AsyncIterator

import pytest

from gateway.runtime import Runtime
from gateway.testing import (
    dispose_shared_runtimes,
    run_query,
    scan_shared_runtimes_for_card_data,
    shared_runtime,
    test_backends,
)


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
    """At the end: no card data in the test databases (issue 11), then close their connections on their loop."""
    yield
    try:
        card_data = await scan_shared_runtimes_for_card_data()
    finally:
        await dispose_shared_runtimes()
    assert not card_data, "card data found in the test databases (gateway db scan-pan):\n" + "\n".join(card_data)
