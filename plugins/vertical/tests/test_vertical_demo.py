"""The demo seed: solutions of the demo developer partner with versions and instances; seeding twice adds nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from gateway.demo import seed_demo
from gateway.testing import run_query
from plugins.vertical.models import DeveloperAccess, Solution, SolutionInstance, SolutionVersion
from schema.models import Partner


async def _counts(runtime: Any) -> tuple[int, ...]:
    async with runtime.sessions() as session:
        return tuple([await session.scalar(select(func.count()).select_from(model))
                      for model in (Solution, SolutionVersion, SolutionInstance, DeveloperAccess)])


async def test_demo_seed_is_idempotent_and_usable(runtime: Any) -> None:
    demo = await seed_demo(runtime)
    first = await _counts(runtime)
    assert first[0] == 2 and first[1] == 6 and first[2] >= 6
    async with runtime.sessions() as session:
        owner = await session.scalar(select(Partner.code).join(Solution, Solution.developer_partner_id == Partner.id))
        tests = await session.scalar(select(func.count()).select_from(SolutionInstance)
                                     .where(SolutionInstance.is_test_account.is_(True)))
    assert owner == "APPSMITH" and tests >= 2
    await seed_demo(runtime)
    assert await _counts(runtime) == first
    data = (await run_query(runtime, "{ solutions { nodes { name latestVersion { version } customers { totalCount } } } }",
                            token=demo.tokens["developer"])).ok()
    assert {n["name"]: n["latestVersion"]["version"] for n in data["solutions"]["nodes"]} == {
        "Clinic Scheduler": "2.0.0", "Shop Ledger": "1.0.1"}
