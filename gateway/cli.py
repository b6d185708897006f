"""The ``gateway`` command line (names and flags: API.md, "Command line").

Every command reads the same settings (``GATEWAY_*``), exits non-zero with a one-line
reason on error, and prints nothing secret except the token it was asked to create.
Plugins add commands through the ``gateway_cli_commands`` hook.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import click

from gateway.cli_catalog import catalog_group
from gateway.cli_jobs import jobs_group, worker_command
from gateway.cli_query import query_command
from gateway.cli_support import make_runtime, plugin_manager, redact, run, settings_of
from gateway.pan_scan import scan_pan_command
from gateway.schema_check_cli import schema_check_command
from gateway.settings import Settings, load_settings

DEFAULT_SDL_PATH = "schema/schema.graphql"


# ---------------------------------------------------------------- errors: one line, non-zero exit
def one_line(error: BaseException, settings: Settings | None = None) -> str:
    """A one-line reason for ``error``; database failures name the (redacted) database."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    text = " ".join(str(error).split()) or error.__class__.__name__
    if isinstance(error, (OperationalError, DBAPIError, ConnectionError, TimeoutError, socket.gaierror)) \
            or error.__class__.__module__.startswith("asyncpg"):
        where = f" at {redact(settings.database_url)}" if settings is not None else ""
        original = getattr(error, "orig", None) or error
        reason = " ".join(str(original).split()) or original.__class__.__name__
        if "no such table" in reason or ("relation" in reason and "does not exist" in reason):
            return f"the database{where} has no gateway tables: run `gateway db upgrade` ({reason})"
        return f"cannot use the database{where}: {reason}"
    if len(text) > 500:
        text = text[:497] + "..."
    return text


class GatewayGroup(click.Group):
    """Turns every error into ``Error: <one line>`` and exit code 1; adds the plugins' commands."""

    plugin_error: str | None = None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, KeyboardInterrupt):
            raise
        except SystemExit:
            raise
        except Exception as error:
            if os.environ.get("GATEWAY_LOG_LEVEL", "").upper() == "DEBUG":
                import traceback

                traceback.print_exc()
            settings = ctx.meta.get("gateway.settings")
            raise click.ClickException(one_line(error, settings)) from None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else None
        if name and self.get_command(ctx, name) is None and self.plugin_error:
            raise click.UsageError(f"no command {name!r}; plugin commands are unavailable: {self.plugin_error}")
        return super().resolve_command(ctx, args)


@click.group(cls=GatewayGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Partner Gateway: the GraphQL API for partners, organizations and product plugins."""


# ---------------------------------------------------------------- serve
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 256))
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, workers: int, reload: bool) -> None:
    """Serve /graphql, /health and plugin routes with uvicorn."""
    import uvicorn

    from gateway.logging import configure_logging

    settings = settings_of(ctx)
    runtime = make_runtime(settings)  # fail here, in one line, on a bad plugin or schema
    run(runtime.dispose())
    configure_logging(settings.log_level)
    if settings.jobs_in_process is None and settings.is_sqlite:  # the embedded default runs its jobs in-process
        os.environ["GATEWAY_JOBS_IN_PROCESS"] = "true"  # read by the app factory in each uvicorn process
    where = f"http://{host}:{port}/graphql"
    click.echo(f"Serving {where}" + (" (GraphiQL in your browser)" if settings.graphiql else ""), err=True)
    uvicorn.run("gateway.http:create_app", factory=True, host=host, port=port, workers=workers if not reload else None,
                reload=reload, log_config=None, access_log=False, log_level=settings.log_level.lower())


# ---------------------------------------------------------------- db
@cli.group()
def db() -> None:
    """Database migrations (Alembic; one branch per plugin)."""


async def upgrade_database(settings: Settings, pm: Any) -> str:
    """Apply every enabled plugin's migrations (without any revision yet, create the tables directly);
    then, when the catalog is empty, the catalog sync (``gateway catalog sync``)."""
    from gateway.catalog import sync_if_empty
    from gateway.db import create_engine

    outcome = await _migrate(settings, pm)
    engine = create_engine(settings.database_url)
    try:
        if not settings.is_sqlite:  # the job queue (procrastinate's schema), installed or brought up to date
            from gateway.worker import apply_engine_schema

            outcome = f"{outcome}; {await apply_engine_schema(engine)}"
        synced = await sync_if_empty(pm, engine)
    finally:
        await engine.dispose()
    return f"{outcome}; {synced}" if synced else outcome


async def _migrate(settings: Settings, pm: Any) -> str:
    from gateway.db import Base, create_engine
    from gateway.migrations import MigrationError, owned_tables, revision_files, upgrade_heads

    if settings.is_sqlite:
        path = settings.database_url.split(":///", 1)[-1]
        if path and path != ":memory:" and not path.startswith(":"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.database_url)
    try:
        if revision_files(pm):
            if await _created_without_migrations(engine):
                raise MigrationError(
                    f"{redact(settings.database_url)} has tables but no migration history (it was made before "
                    "revisions existed); drop it (for the demo database: delete the file) and run again")
            await upgrade_heads(pm, engine, settings.database_url)
            return "migrations applied (upgrade heads)"
        tables = owned_tables(pm)
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: Base.metadata.create_all(
                sync, tables=[t for t in Base.metadata.sorted_tables if t.name in tables]))
        return "no migration revisions exist yet: tables created directly from the models (development only)"
    finally:
        await engine.dispose()


async def _created_without_migrations(engine: Any) -> bool:
    from sqlalchemy import inspect

    async with engine.connect() as connection:
        names = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    return "users" in names and "alembic_version" not in names


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every enabled plugin's migrations to GATEWAY_DATABASE_URL (alembic upgrade heads)."""
    settings = settings_of(ctx)
    outcome = run(upgrade_database(settings, plugin_manager(settings)))
    click.echo(f"{redact(settings.database_url)}: {outcome}")


@db.command("revision")
@click.option("--plugin", "plugin_name", required=True, help="The plugin whose tables the revision covers.")
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.pass_context
def db_revision(ctx: click.Context, plugin_name: str, message: str) -> None:
    """Autogenerate a revision for one plugin's tables (its first revision starts its branch)."""
    from gateway.migrations import create_revision

    settings = settings_of(ctx)
    path = create_revision(plugin_manager(settings), plugin_name, message)
    if path is None:
        click.echo(f"plugin {plugin_name!r}: the models match the migrations; no revision written")
    else:
        click.echo(f"wrote {path}")


# ---------------------------------------------------------------- demo
@cli.group()
def demo() -> None:
    """Demo data for trying the API."""


@demo.command("seed")
@click.pass_context
def demo_seed(ctx: click.Context) -> None:
    """Migrate if needed, load every plugin's demo data (idempotent) and print the demo tokens."""
    from gateway.demo import format_tokens, refuse_in_production, seed_demo

    settings = settings_of(ctx)
    refuse_in_production(settings, "`gateway demo seed`")
    outcome = run(upgrade_database(settings, plugin_manager(settings)))
    runtime = make_runtime(settings)

    async def seed() -> Any:
        try:
            return await seed_demo(runtime)
        finally:
            await runtime.dispose()

    data = run(seed())
    click.echo(f"{redact(settings.database_url)}: {outcome}; demo data loaded "
               f"({''.join(f'{len(pks)} {kind}, ' for kind, pks in data.pks.items())}{len(data.users)} users).")
    click.echo(format_tokens(data))


@demo.command("token")
@click.argument("label", required=False)
@click.pass_context
def demo_token_command(ctx: click.Context, label: str | None) -> None:
    """Print the (deterministic) demo token of a role label, e.g. partner_admin; without one, list the labels."""
    from gateway.demo import demo_roles, demo_token, refuse_in_production

    settings = settings_of(ctx)
    refuse_in_production(settings, "`gateway demo token`")
    roles = demo_roles(plugin_manager(settings))
    if label is None:
        width = max(map(len, roles), default=0)
        for name in sorted(roles):
            click.echo(f"{name.ljust(width)}  {roles[name]}")
        return
    if label not in roles:
        raise click.ClickException(f"no demo role {label!r}; the demo roles are: {', '.join(sorted(roles))}")
    click.echo(demo_token(label))


# ---------------------------------------------------------------- token
@cli.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.option("--user", "email", required=True, help="The user's email; created if new.")
@click.option("--platform-admin", is_flag=True, help="Make the user a platform admin.")
@click.option("--platform-role", type=click.Choice(["ADMIN", "ANALYST", "MESSAGING_SERVICE"]),
              help="Give the user a platform role.")
@click.option("--name", default="cli", show_default=True, help="A name to recognise the token by.")
@click.option("--expires-in-days", type=click.IntRange(1, 3650), help="Expire the token after N days.")
@click.pass_context
def token_create(ctx: click.Context, email: str, platform_admin: bool, platform_role: str | None, name: str,
                 expires_in_days: int | None) -> None:
    """Create a bearer token for a user; the token is printed alone on the last line, once."""
    from gateway.auth import get_or_create_user, issue_token
    from gateway.db import create_engine, session_factory, utcnow

    if platform_admin and platform_role not in (None, "ADMIN"):
        raise click.UsageError("--platform-admin and --platform-role other than ADMIN contradict each other")
    role = "ADMIN" if platform_admin else platform_role
    if "@" not in email or email.strip() != email or len(email) > 320:
        raise click.BadParameter("an email address such as someone@example.com", param_hint="--user")
    settings = settings_of(ctx)
    expires_at = utcnow() + dt.timedelta(days=expires_in_days) if expires_in_days else None

    async def create() -> tuple[str, str]:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                user = await get_or_create_user(session, email, None, role)
                _, plain = await issue_token(session, user, name, expires_at)
                return user.email, plain
        finally:
            await engine.dispose()

    user_email, plain = run(create())
    about = f" (platform role {role})" if role else ""
    until = f", expires {expires_at:%Y-%m-%d}" if expires_at else ""
    click.echo(f"token {name!r} for {user_email}{about}{until}; shown once:", err=False)
    click.echo(plain)


# ---------------------------------------------------------------- schema
@cli.group("schema")
def schema_group() -> None:
    """The composed GraphQL schema."""


def composed_sdl(settings: Settings) -> str:
    runtime = make_runtime(settings)
    try:
        return runtime.schema.as_str().rstrip("\n") + "\n"
    finally:
        run(runtime.dispose())


def sdl_difference(expected: str, actual: str, *, limit: int = 12) -> list[str]:
    """A short summary of how ``actual`` (the file) differs from ``expected`` (the code); [] when equal."""
    if expected == actual:
        return []
    diff = [line for line in difflib.unified_diff(actual.splitlines(), expected.splitlines(), "file", "code",
                                                    lineterm="", n=0)
            if not line.startswith(("---", "+++", "@@"))]
    added = sum(1 for line in diff if line.startswith("+"))
    removed = sum(1 for line in diff if line.startswith("-"))
    summary = [f"{added} line(s) only in the code, {removed} line(s) only in the file"]
    summary += [f"  {line}" for line in diff[:limit]]
    if len(diff) > limit:
        summary.append(f"  ... {len(diff) - limit} more")
    return summary


@schema_group.command("export")
@click.option("--output", type=click.Path(dir_okay=False, allow_dash=True),
              help=f"The file to write, - for standard output [default: {DEFAULT_SDL_PATH}; with --plugin: -].")
@click.option("--check", is_flag=True, help="Exit non-zero when the file differs from the code; write nothing.")
@click.option("--plugin", "plugin_name", help="Only this plugin's part of the schema (core: the core's).")
@click.option("--federation", is_flag=True, help="With --plugin: as an Apollo Federation 2 subgraph SDL.")
@click.pass_context
def schema_export(ctx: click.Context, output: str | None, check: bool, plugin_name: str | None,
                  federation: bool) -> None:
    """Write the composed schema's SDL (or check that the committed file matches it), or one plugin's part."""
    if federation and plugin_name is None:
        raise click.UsageError("--federation exports one plugin's subgraph: add --plugin NAME")
    output = output or ("-" if plugin_name is not None else DEFAULT_SDL_PATH)
    if output == "-" and check:
        raise click.UsageError("--check compares with a file: add --output FILE")
    path = Path(output)
    if check and not path.is_file():  # e.g. run from another folder: say so rather than diff against nothing
        raise click.ClickException(f"{path.absolute()} does not exist; run from the project folder or pass "
                                   "--output with the committed schema file")
    if plugin_name is not None:
        from gateway.federation import part_sdl

        sdl = part_sdl(plugin_name, settings_of(ctx), federation=federation)
    else:
        sdl = composed_sdl(settings_of(ctx))
    if output == "-":
        click.echo(sdl, nl=False)
        return
    if check:
        current = path.read_text()
        summary = sdl_difference(sdl, current)
        if summary:
            for line in summary[1:]:
                click.echo(line, err=True)
            raise click.ClickException(f"{path} differs from the code ({summary[0]}); run `gateway schema export`")
        click.echo(f"{path} matches the code")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sdl)
    click.echo(f"wrote {path} ({len(sdl.splitlines())} lines)")


# ---------------------------------------------------------------- plugins and actions
@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="One JSON document (hooks, fields by type, migrations...).")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool) -> None:
    """The loaded plugins, their versions and what each contributes."""
    from gateway.introspection import describe_plugins, plugins_report

    pm = plugin_manager(settings_of(ctx))
    click.echo(json.dumps(plugins_report(pm), indent=2) if as_json else describe_plugins(pm))


@cli.command("actions")
@click.option("--markdown", is_flag=True, help="A Markdown table (for the README).")
@click.pass_context
def actions_command(ctx: click.Context, markdown: bool) -> None:
    """The access matrix: every declared action and the grants allowed to perform it."""
    from gateway.introspection import action_registry, actions_markdown, actions_text, grant_columns

    pm = plugin_manager(settings_of(ctx))
    registry = action_registry(pm)
    columns = grant_columns(pm, registry)
    click.echo(actions_markdown(registry, columns) if markdown else actions_text(registry, columns))


# ---------------------------------------------------------------- commands kept in their own modules
cli.add_command(query_command)  # issue 8
db.add_command(scan_pan_command)  # gateway db scan-pan (issue 11)
cli.add_command(catalog_group)
cli.add_command(worker_command)  # the job engine (issue 14)
cli.add_command(jobs_group)
schema_group.add_command(schema_check_command)  # gateway schema check (issue 13)


# ---------------------------------------------------------------- entry point
def add_plugin_commands(group: GatewayGroup) -> None:
    """Add the enabled plugins' click commands; a failure is remembered, not fatal (built-ins report it)."""
    from gateway.plugins import contributions

    try:
        pm = plugin_manager(load_settings())
        for plugin, commands in contributions(pm, "gateway_cli_commands"):
            for command in commands:
                if command.name in group.commands:
                    click.echo(f"warning: plugin {plugin!r} command {command.name!r} clashes with an existing "
                               "command; ignored", err=True)
                    continue
                group.add_command(command)
    except Exception as error:  # reported when a missing command is asked for
        group.plugin_error = one_line(error)


def main(argv: list[str] | None = None) -> Any:
    add_plugin_commands(cli)
    return cli.main(args=argv, prog_name="gateway")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
