"""desk_im tests run on the core and this plugin only; the kit's ``world`` (so ``client`` and
``assert_access_matrix``) is the desk world; after each test that used a database the ledger and every
balance agree."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.runtime import Runtime
from plugins.desk_im.service import assert_ledger_consistent
from plugins.desk_im.tests.world import DeskWorld, build_desk_world


@pytest.fixture
def gateway_plugins() -> list[str]:
    return ["desk_im"]


@pytest.fixture
async def world(runtime: Runtime) -> DeskWorld:
    return await build_desk_world(runtime)


@pytest.fixture(autouse=True)
async def ledger_invariant(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    runtime = getattr(request.node, "funcargs", {}).get("runtime")
    if runtime is not None:
        async with runtime.sessions() as session:
            await assert_ledger_consistent(session)
