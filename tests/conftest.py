"""The core and host tests run on a gateway with only the core enabled: the core needs no product plugin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.runtime import Runtime
from gateway.testing import shared_runtime


@pytest.fixture
async def runtime(backend: str) -> AsyncIterator[Runtime]:
    yield await shared_runtime(backend, ["core"])
