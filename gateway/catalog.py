"""``gateway catalog seed``: every enabled plugin's sellable catalog, without demo data.

A fresh production database (``gateway db upgrade``) has tables but nothing to sell: no
products, plans, add-ons or prices, so every order is refused with ``CATALOG_EMPTY``. This
step adds what is missing of each plugin's catalog through the ``gateway_seed_catalog``
hook, in one transaction; running it again adds nothing. Unlike ``gateway demo seed`` it
creates no organizations, users or tokens, so it is allowed with ``GATEWAY_ENV=production``.
"""

from __future__ import annotations

from typing import Any

import click

from gateway.cli_support import make_runtime, redact, run, settings_of
from gateway.plugins import load_order, maybe_await


async def seed_catalog(runtime: Any) -> dict[str, dict[str, int]]:
    """Run every enabled plugin's catalog seeder in plugin order, in one transaction; what each added."""
    added: dict[str, dict[str, int]] = {}
    hook = runtime.plugin_manager.hook.gateway_seed_catalog
    async with runtime.sessions() as session, session.begin():
        for impl in load_order(hook):
            arguments = {"session": session}
            answer = await maybe_await(impl.function(*(arguments[name] for name in impl.argnames)))
            await session.flush()
            added[impl.plugin_name] = {kind: count for kind, count in (answer or {}).items() if count}
    return added


def describe(added: dict[str, dict[str, int]]) -> str:
    parts = [f"{plugin}: " + ", ".join(f"{count} {kind}" for kind, count in counts.items())
             for plugin, counts in added.items() if counts]
    return "added " + "; ".join(parts) if parts else "nothing to add, the catalog was complete"


@click.group("catalog")
def catalog_group() -> None:
    """The products, plans, add-ons and prices that can be ordered."""


@catalog_group.command("seed")
@click.pass_context
def catalog_seed(ctx: click.Context) -> None:
    """Add what is missing of every enabled plugin's catalog (idempotent; no demo data)."""
    settings = settings_of(ctx)
    runtime = make_runtime(settings)

    async def seed() -> dict[str, dict[str, int]]:
        try:
            return await seed_catalog(runtime)
        finally:
            await runtime.dispose()

    added = run(seed())
    click.echo(f"{redact(settings.database_url)}: catalog {describe(added)}.")
