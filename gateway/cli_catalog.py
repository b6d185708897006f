"""``gateway catalog sync`` (and ``gateway catalog seed``, its former name): the catalog sync of ``gateway.catalog``."""

from __future__ import annotations

import click

from gateway.catalog import SyncOutcome, describe, describe_drift, seed_catalog
from gateway.cli_support import make_runtime, redact, run, settings_of


@click.group("catalog")
def catalog_group() -> None:
    """The products, plans, add-ons and prices that can be ordered."""


@catalog_group.command("sync")
@click.pass_context
def catalog_sync(ctx: click.Context) -> None:
    """Add what is missing of every enabled plugin's catalog (idempotent; no demo data); report drift."""
    settings = settings_of(ctx)
    runtime = make_runtime(settings)

    async def sync() -> SyncOutcome:
        try:
            return await seed_catalog(runtime)
        finally:
            await runtime.dispose()

    outcome = run(sync())
    click.echo(f"{redact(settings.database_url)}: catalog sync {describe(outcome)}.")
    for line in describe_drift(outcome):
        click.echo(line)


@catalog_group.command("seed")
@click.pass_context
def catalog_seed(ctx: click.Context) -> None:
    """The same as `gateway catalog sync` (its former name)."""
    ctx.invoke(catalog_sync)
