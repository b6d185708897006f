"""What every ``gateway`` command shares: settings once per invocation, the runtime, one-line redaction.

Kept apart from ``gateway.cli`` so the command modules (``cli_query``, ``catalog``, ``pan_scan``) and
the group that gathers them all import it, and none of them imports the group back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import click

from gateway.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    import pluggy

    from gateway.runtime import Runtime


def redact(url: str) -> str:
    """A database URL without its password."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<database url>"


def settings_of(ctx: click.Context) -> Settings:
    """The validated settings (once per invocation); a bad value stops here naming the variable."""
    root = ctx.find_root()
    if "gateway.settings" not in root.meta:
        try:
            root.meta["gateway.settings"] = load_settings()
        except SettingsError as error:
            raise click.ClickException(str(error)) from None
    settings: Settings = root.meta["gateway.settings"]
    return settings


def plugin_manager(settings: Settings) -> pluggy.PluginManager:
    from gateway.plugins import create_plugin_manager  # loading plugins is slow: only for commands that need them

    return create_plugin_manager(settings.plugins, trace_hooks=settings.trace_hooks)


def make_runtime(settings: Settings) -> Runtime:
    from gateway.runtime import Runtime  # builds the schema: only for commands that need it

    return Runtime(settings)


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)
