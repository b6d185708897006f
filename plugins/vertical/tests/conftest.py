"""Fixtures of the vertical plugin's tests (on the core and this plugin only): the standard world plus a
solution of ``devco`` and its customers.

    vworld.solution      the pk of "Clinic" (developer partner devco, member world.tokens["developer"])
    vworld.versions      {"1.0.0": pk, "1.1.0": pk, "2.0.0": pk}
    vworld.instances     {"acme": pk (live, 1.0.0, VERTICAL_STARTER with 3 GB storage add-on),
                          "direct": pk (live, 1.1.0), "unverified": pk (test account, 1.0.0)}
    world                the kit's fixture is ``vworld.world`` here (``client``, ``assert_access_matrix`` use it)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from gateway.db import utcnow
from gateway.hookspecs import hookimpl
from gateway.relay import encode_id
from gateway.runtime import Runtime
from gateway.testing import clear_tables, create_tables, make_test_runtime
from plugins.vertical.models import Solution, SolutionInstance, SolutionVersion
from plugins.vertical.services.upgrades import UpgradeJob
from schema import models
from schema.testing import World, build_world


@dataclass
class VerticalWorld:
    world: World
    solution: int
    versions: dict[str, int] = field(default_factory=dict)
    instances: dict[str, int] = field(default_factory=dict)
    plans: dict[str, int] = field(default_factory=dict)
    product: int = 0
    storage_add_on: int = 0
    subscriptions: dict[str, int] = field(default_factory=dict)

    @property
    def tokens(self) -> dict[str, str | None]:
        return self.world.tokens

    @property
    def solution_id(self) -> str:
        return encode_id("Solution", self.solution)

    def instance_id(self, key: str) -> str:
        return encode_id("SolutionInstance", self.instances[key])


async def add_vertical_catalog(session: Any) -> tuple[int, dict[str, int], int]:
    product = models.Product(code="VERTICAL", name="Vertical Solutions")
    session.add(product)
    await session.flush()
    plans = {}
    for code, price, rank in (("VERTICAL_STARTER", "20.00", 1), ("VERTICAL_PROFESSIONAL", "45.00", 2)):
        plan = models.Plan(product_id=product.id, code=code, name=code.title(), price_per_license=Decimal(price),
                           currency="USD", billing_period="MONTHLY", included_storage_gb=10, trial_days=30,
                           rank=rank, storage_price_per_gb=Decimal("0.25"))
        session.add(plan)
        await session.flush()
        plans[code] = plan.id
    add_on = models.AddOn(product_id=product.id, code="VERTICAL_STORAGE", name="Extra storage",
                          unit_price=Decimal("1.00"), currency="USD", billing="PREPAID", unit="GB")
    session.add(add_on)
    await session.flush()
    return product.id, plans, add_on.id


async def add_subscription(session: Any, organization_id: int, product_id: int, plan_id: int, status: str,
                           add_on: tuple[int, int] | None = None) -> int:
    now = utcnow()
    sub = models.Subscription(organization_id=organization_id, product_id=product_id, plan_id=plan_id, status=status,
                              license_count=5, storage_gb=10, auto_renew=True, current_period_start=now,
                              current_period_end=now + dt.timedelta(days=30),
                              trial_ends_at=now + dt.timedelta(days=30) if status == "TRIAL" else None)
    session.add(sub)
    await session.flush()
    if add_on is not None:
        session.add(models.SubscriptionAddOn(subscription_id=sub.id, add_on_id=add_on[0], quantity=add_on[1]))
        await session.flush()
    return sub.id


async def add_organization(session: Any, domain: str, partner_id: int | None = None) -> int:
    row = models.Organization(name=domain.split(".")[0].title(), domain=domain, domain_verified=True,
                              domain_verification_code="x", status="ACTIVE", country="FR", partner_id=partner_id)
    session.add(row)
    await session.flush()
    return row.id


def version_row(solution_id: int, number: str, changes: str) -> SolutionVersion:
    major, minor, patch = (int(p) for p in number.split("."))
    return SolutionVersion(solution_id=solution_id, version=number, major=major, minor=minor, patch=patch,
                           changes=changes)


async def build_vertical_world(runtime: Runtime) -> VerticalWorld:
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        product, plans, add_on = await add_vertical_catalog(session)
        solution = Solution(developer_partner_id=world.partners["devco"], name="Clinic")
        session.add(solution)
        await session.flush()
        vw = VerticalWorld(world=world, solution=solution.id, plans=plans, product=product, storage_add_on=add_on)
        for number, notes in (("1.0.0", "First release."), ("1.1.0", "Reminders by SMS."),
                              ("2.0.0", "New billing module.")):
            row = version_row(solution.id, number, notes)
            session.add(row)
            await session.flush()
            vw.versions[number] = row.id
        vw.subscriptions["acme"] = await add_subscription(
            session, world.organizations["acme"], product, plans["VERTICAL_STARTER"], "ACTIVE", (add_on, 3))
        now = utcnow()
        for key, version, test, plan, user_type, days in (
            ("acme", "1.0.0", False, "VERTICAL_STARTER", "PAID", 1),
            ("direct", "1.1.0", False, None, "FREE", 40),
            ("unverified", "1.0.0", True, None, "FREE", None),
        ):
            instance = SolutionInstance(
                solution_id=solution.id, organization_id=world.organizations[key],
                installed_version_id=vw.versions[version], account_status="ACTIVE", is_test_account=test,
                plan_id=plans[plan] if plan else None, user_type=user_type,
                last_transaction_at=now - dt.timedelta(days=days) if days is not None else None,
                data_used_mb=100, file_used_mb=2000)
            session.add(instance)
            await session.flush()
            vw.instances[key] = instance.id
    return vw


@pytest.fixture
def gateway_plugins() -> list[str]:
    return ["vertical"]


@pytest.fixture
async def vworld(runtime: Runtime) -> VerticalWorld:
    return await build_vertical_world(runtime)


@pytest.fixture
def world(vworld: VerticalWorld) -> World:
    """The kit's ``world`` (so ``client`` and ``assert_access_matrix``) is the vertical world's standard part."""
    return vworld.world


class ScriptedRunner:
    """A test plugin answering ``gateway_upgrade_runner``: fails the organizations in ``failing``."""

    def __init__(self) -> None:
        self.failing: set[int] = set()
        self.jobs: list[UpgradeJob] = []

    @hookimpl
    def gateway_upgrade_runner(self) -> Any:
        async def run(job: UpgradeJob) -> None:
            self.jobs.append(job)
            if job.organization_id in self.failing:
                raise RuntimeError(f"data migration to {job.to_version} failed")

        return run


@pytest.fixture(scope="session")
async def _scripted_runtimes() -> AsyncIterator[dict[str, tuple[Runtime, ScriptedRunner]]]:
    """Runtimes with a ScriptedRunner test plugin, one per backend, disposed on the session's loop."""
    runtimes: dict[str, tuple[Runtime, ScriptedRunner]] = {}
    yield runtimes
    for runtime, _ in runtimes.values():
        await runtime.dispose()


@pytest.fixture
async def scripted(backend: str, _scripted_runtimes: dict[str, tuple[Runtime, ScriptedRunner]]
                   ) -> AsyncIterator[tuple[Runtime, ScriptedRunner]]:
    """A runtime whose upgrade runner is a ScriptedRunner test plugin (reset for each test)."""
    if backend not in _scripted_runtimes:
        runner = ScriptedRunner()
        runtime = make_test_runtime(backend, extra_plugins=[("scripted_runner", runner)])
        await create_tables(runtime)
        _scripted_runtimes[backend] = (runtime, runner)
    runtime, runner = _scripted_runtimes[backend]
    await clear_tables(runtime)
    runner.failing.clear()
    runner.jobs.clear()
    yield runtime, runner
