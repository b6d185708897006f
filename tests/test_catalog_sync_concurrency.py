"""Two catalog syncs at once on an empty catalog (two `gateway db upgrade` or `gateway catalog sync` started
together, PostgreSQL): one adds the catalog, the other waits for it and adds nothing; no unique violation."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from gateway.catalog import sync_with
from gateway.testing import shared_runtime
from schema import models


@pytest.mark.parametrize("only_if_empty", [True, False])
async def test_two_syncs_at_once_add_the_catalog_once(backend: str, only_if_empty: bool) -> None:
    if backend == "sqlite":
        pytest.skip("one SQLite connection in the test runtime: no two transactions at once")
    runtime = await shared_runtime(backend)
    outcomes = await asyncio.gather(*(sync_with(runtime.plugin_manager, runtime.sessions, only_if_empty=only_if_empty)
                                      for _ in range(3)))
    assert [outcome.added_anything for outcome in outcomes].count(True) == 1
    async with runtime.sessions() as session:
        products = await session.scalar(select(func.count()).select_from(models.Product))
        plans = await session.scalar(select(func.count()).select_from(models.Plan))
    assert products == sum(counts.get("products", 0) for o in outcomes for counts in o.added.values()) > 0
    assert plans == sum(counts.get("plans", 0) for o in outcomes for counts in o.added.values()) > 0
