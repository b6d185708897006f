"""My product's tests run on a gateway with the core and this plugin only.

Every other fixture (``runtime``, ``world``, ``client``, ``count_sql``, ``hook_recorder``,
``assert_access_matrix``...) comes from the gateway's test kit, a pytest plugin installed
with the gateway (``schema/pytest_plugin.py``).
"""

from __future__ import annotations

import pytest


@pytest.fixture
def gateway_plugins() -> list[str]:
    return ["my_product"]
