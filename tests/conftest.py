"""The core and host tests run on a gateway with only the core enabled: the core needs no product plugin.

The fixtures (runtime, gql, world, client, count_sql, ...) are the test kit's: schema/pytest_plugin.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from test_renewals_kit import LedgerProcessor, every_product_world

from gateway.runtime import Runtime
from schema.testing import World


@pytest.fixture
def gateway_plugins() -> list[str]:
    return ["core"]


# ---------------------------------------------------------------- the renewal tests' (tests/test_renewals*.py)
@pytest.fixture
async def processor(runtime: Runtime) -> AsyncIterator[LedgerProcessor]:
    """A payment processor that keeps a ledger of what it charged, answering for the test's runtime."""
    ledger_processor = LedgerProcessor()
    runtime.plugin_manager.register(ledger_processor, name="test-ledger-processor")
    try:
        yield ledger_processor
    finally:
        runtime.plugin_manager.unregister(name="test-ledger-processor")


@pytest.fixture
async def products(runtime: Runtime) -> World:
    """The test world with a subscription-ready catalog of every product."""
    return await every_product_world(runtime)
