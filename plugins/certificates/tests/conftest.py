"""Certificates tests run on a runtime with the core and this plugin only, so they test this plugin alone."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import pytest

from gateway.runtime import Runtime
from gateway.testing import clear_tables, create_tables, make_test_runtime

PLUGINS = ["certificates"]
_runtimes: dict[str, Runtime] = {}


@pytest.fixture
async def runtime(backend: str) -> AsyncIterator[Runtime]:
    runtime = _runtimes.get(backend)
    if runtime is None:
        runtime = _runtimes[backend] = make_test_runtime(backend, plugins=PLUGINS)
        await create_tables(runtime)
    await clear_tables(runtime)
    yield runtime


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    async def dispose() -> None:
        for runtime in _runtimes.values():
            await runtime.dispose()

    try:
        asyncio.run(dispose())
    except RuntimeError:
        pass
