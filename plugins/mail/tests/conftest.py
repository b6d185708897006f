"""Mail tests run on a runtime with the core and this plugin only, so they test this plugin alone.

``mw`` is the mail world built on the kit's ``world`` fixture (so ``client`` acts on the same tokens).
"""

from __future__ import annotations

import pytest

from gateway.runtime import Runtime
from plugins.mail.testing import MailWorld, add_mail
from schema.testing import World


@pytest.fixture
def gateway_plugins() -> list[str]:
    return ["mail"]


@pytest.fixture
async def mw(runtime: Runtime, world: World) -> MailWorld:
    return await add_mail(runtime, world)
