"""Certificates tests run on a runtime with the core and this plugin only, so they test this plugin alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.runtime import Runtime
from gateway.testing import shared_runtime

PLUGINS = ["certificates"]


@pytest.fixture
async def runtime(backend: str) -> AsyncIterator[Runtime]:
    # shared for the session and disposed on the session's loop (the root conftest), not on a new loop
    # at session end, where each PostgreSQL connection printed an "Event loop is closed" traceback
    yield await shared_runtime(backend, PLUGINS)
