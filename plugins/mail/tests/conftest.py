"""Mail tests run on a runtime with the core and this plugin only, so they test this plugin alone."""

from __future__ import annotations

import pytest


@pytest.fixture
def gateway_plugins() -> list[str]:
    return ["mail"]
