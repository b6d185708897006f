"""Disposing a runtime from another event loop than the one its connections were opened on prints nothing."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import event, text

from gateway.testing import make_test_runtime


def test_dispose_after_the_connections_loop_closed_is_quiet(backend: str, caplog: pytest.LogCaptureFixture) -> None:
    runtime = make_test_runtime(backend, plugins=["core"])

    async def use() -> None:
        async with runtime.engine.connect() as connection:
            await connection.execute(text("select 1"))

    asyncio.run(use())  # that loop is closed when asyncio.run returns, as a test session's loop is
    with caplog.at_level(logging.DEBUG):
        asyncio.run(runtime.dispose())
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors == [], [r.getMessage() for r in errors]
    assert "Event loop is closed" not in caplog.text


async def test_dispose_on_the_same_loop_closes_the_connections(backend: str) -> None:
    runtime = make_test_runtime(backend, plugins=["core"])
    closed: list[object] = []
    event.listen(runtime.engine.sync_engine, "close", lambda connection, record: closed.append(connection))
    async with runtime.engine.connect() as connection:
        await connection.execute(text("select 1"))
    await runtime.dispose()
    assert len(closed) == 1
