"""Certificates tests run on a runtime with the core and this plugin only, so they test this plugin alone.

The kit's ``world`` fixture (and so ``client`` and ``assert_access_matrix``) is the standard world plus the
certificate catalog here.
"""

from __future__ import annotations

import pytest

from gateway.runtime import Runtime
from plugins.certificates.testing import certificate_world
from schema.testing import World


@pytest.fixture
def gateway_plugins() -> list[str]:
    return ["certificates"]


@pytest.fixture
async def world(runtime: Runtime) -> World:
    return await certificate_world(runtime)
