"""Finding the upgrade runner: the first plugin answering ``gateway_upgrade_runner`` wins.

This plugin answers last (``trylast``) with ``default_runner``; a deployment or a test plugin
that returns its own runner replaces it.
"""

from __future__ import annotations

from gateway.context import Context
from gateway.plugins import call_firstresult
from plugins.vertical.services.upgrades import UpgradeRunner, default_runner


async def upgrade_runner(ctx: Context) -> UpgradeRunner:
    return await call_firstresult(ctx.hooks.gateway_upgrade_runner) or default_runner
