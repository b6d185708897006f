"""The core and host tests run on a gateway with only the core enabled: the core needs no product plugin.

The fixtures (runtime, gql, world, client, count_sql, ...) are the test kit's: schema/pytest_plugin.py.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def gateway_plugins() -> list[str]:
    return ["core"]
