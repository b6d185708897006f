"""Concurrent writes on PostgreSQL: row locks make one upgrade / one publication win (skipped on SQLite)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.testing import run_query
from plugins.vertical.models import SolutionUpgrade, SolutionVersion
from plugins.vertical.tests.conftest import VerticalWorld

UPGRADE = """mutation($input: UpgradeSolutionInstanceInput!) { upgradeSolutionInstance(input: $input) {
  upgrade { status } userErrors { code } } }"""
PUBLISH = """mutation($input: PublishSolutionVersionInput!) { publishSolutionVersion(input: $input) {
  version { version } userErrors { code } } }"""


@pytest.fixture(autouse=True)
def postgres_only(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("concurrent transactions need PostgreSQL (SQLite tests share one connection)")


async def test_two_concurrent_upgrades_of_one_instance(runtime: Any, vworld: VerticalWorld) -> None:
    variables = {"input": {"instanceId": vworld.instance_id("acme")}}
    results = await asyncio.gather(*(run_query(runtime, UPGRADE, variables, token=vworld.tokens[role])
                                     for role in ("developer", "org_super_admin")))
    outcomes = sorted(r.ok()["upgradeSolutionInstance"]["userErrors"][0]["code"]
                      if r.ok()["upgradeSolutionInstance"]["userErrors"] else "COMPLETED" for r in results)
    assert outcomes == ["ALREADY_LATEST_VERSION", "COMPLETED"]
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SolutionUpgrade)) == 1


async def test_two_concurrent_publications_of_one_version(runtime: Any, vworld: VerticalWorld) -> None:
    variables = {"input": {"solutionId": vworld.solution_id, "version": "2.1.0", "changes": "Same."}}
    results = await asyncio.gather(*(run_query(runtime, PUBLISH, variables, token=vworld.tokens[role])
                                     for role in ("developer", "platform_admin")))
    codes = sorted(e["code"] for r in results for e in r.ok()["publishSolutionVersion"]["userErrors"])
    assert codes == ["VERSION_NOT_ABOVE_LATEST"]
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SolutionVersion)
                                    .where(SolutionVersion.version == "2.1.0")) == 1
