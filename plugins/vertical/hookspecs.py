"""The hooks the vertical plugin declares (added by its ``gateway_add_hookspecs``) and calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.hookspecs import hookspec

if TYPE_CHECKING:
    from plugins.vertical.services.upgrades import UpgradeRunner


@hookspec(firstresult=True)
def gateway_upgrade_runner() -> UpgradeRunner | None:
    """Return the runner that performs a solution upgrade (``async fn(UpgradeJob) -> None``, raising to fail
    it); the first answer wins (this plugin's default runner answers last)."""
