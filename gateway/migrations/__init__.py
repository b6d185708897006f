"""Alembic migrations: one environment, one branch per plugin.

Layout and ownership
--------------------
* ``gateway/migrations/env.py`` is the one Alembic environment (async-aware; batch mode on
  SQLite so ALTERs work there).
* ``version_locations`` are ``gateway/migrations/versions`` (the host's own folder) plus every
  enabled plugin's ``gateway_migrations_path`` answer (default: ``migrations/`` next to the plugin's
  module, the house layout of plugins/README.md "Layout"). The core answers ``schema/migrations``.
* One branch per plugin, labelled with the plugin's name (``core``, ``mail``, ...). A
  revision of a plugin touches only the tables of that plugin's ``gateway_models`` answer.
* The host's tables (users, api_tokens, audit_events, notifications, idempotency_keys,
  persisted_queries, cost_budgets) are listed by the core's ``gateway_models``, so the
  **core branch owns them**; the core plugin is always enabled, so they always exist.
  ``gateway/migrations/versions`` therefore holds no revision today; it is kept for host
  tables that some day must exist without the core.
* A plugin's first revision gets its branch label and ``depends_on`` the core head, so
  its foreign keys to core tables always find them.

``gateway db revision --plugin NAME -m MSG`` autogenerates against a scratch SQLite
database upgraded to every head, so it never depends on (or touches) your database.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pluggy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import Base, create_engine
from gateway.plugins import contributions, enabled_plugins

HERE = Path(__file__).parent
HOST_VERSIONS = HERE / "versions"
CORE = "core"
VERSION_TABLE = "alembic_version"

R = TypeVar("R")


class MigrationError(Exception):
    """Migrations cannot be run or generated as asked; the message says why."""


@dataclass(frozen=True)
class PluginMigrations:
    name: str
    path: Path | None  # None: the plugin has no migrations folder and no tables of its own
    tables: frozenset[str]


def plugin_migrations(pm: pluggy.PluginManager) -> list[PluginMigrations]:
    """Each registered plugin (load order) with its migrations folder and the tables it owns."""
    tables: dict[str, set[str]] = {}
    for plugin, models in contributions(pm, "gateway_models"):
        for model in models:
            table = getattr(model, "__table__", model)
            tables.setdefault(plugin, set()).add(table.name)
    paths = {plugin: Path(path) for plugin, path in contributions(pm, "gateway_migrations_path")}
    found = []
    for name, module in enabled_plugins(pm):
        path = paths.get(name)
        module_file = getattr(module, "__file__", None)
        if path is None and module_file:
            path = Path(module_file).parent / "migrations"
        found.append(PluginMigrations(name, path, frozenset(tables.get(name, ()))))
    return found


def owned_tables(pm: pluggy.PluginManager, plugin: str | None = None) -> frozenset[str]:
    """The tables of one plugin, or of every enabled plugin."""
    return frozenset(t for p in plugin_migrations(pm) if plugin in (None, p.name) for t in p.tables)


def models_metadata(pm: pluggy.PluginManager) -> MetaData:
    """The MetaData the plugins' tables live in: ``gateway.db.Base.metadata`` (a test kit may use its own)."""
    found = {id(getattr(m, "__table__", m).metadata): getattr(m, "__table__", m).metadata
             for _, models in contributions(pm, "gateway_models") for m in models}
    return next(iter(found.values())) if len(found) == 1 else Base.metadata


def include_tables(tables: frozenset[str]) -> Callable[..., bool]:
    """An Alembic ``include_object`` that sees only ``tables`` (and their columns, indexes, constraints)."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table":
            return name in tables
        table = getattr(obj, "table", None)
        return table is None or table.name in tables

    return include_object


def alembic_config(pm: pluggy.PluginManager, database_url: str, *,
                   include_object: Callable[..., bool] | None = None) -> Config:
    """A programmatic Alembic config over the enabled plugins' version folders."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    locations = [HOST_VERSIONS] + [p.path for p in plugin_migrations(pm) if p.path is not None and p.path.is_dir()]
    config.set_main_option("version_locations", os.pathsep.join(str(path) for path in locations))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["target_metadata"] = models_metadata(pm)
    config.attributes["include_object"] = include_object or include_tables(owned_tables(pm))
    return config


def revision_files(pm: pluggy.PluginManager) -> list[Path]:
    """Every revision file in the enabled plugins' migration folders."""
    folders = [HOST_VERSIONS] + [p.path for p in plugin_migrations(pm) if p.path is not None]
    return sorted(f for folder in folders if folder.is_dir() for f in folder.glob("*.py") if f.name != "__init__.py")


async def _on_connection(engine: AsyncEngine, work: Callable[[Connection], R]) -> R:
    async with engine.begin() as connection:
        return await connection.run_sync(work)


async def upgrade_heads(pm: pluggy.PluginManager, engine: AsyncEngine, database_url: str) -> None:
    """``alembic upgrade heads`` on ``engine`` (every enabled plugin's branch)."""
    config = alembic_config(pm, database_url)

    def work(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")

    await _on_connection(engine, work)


async def schema_diff(pm: pluggy.PluginManager, engine: AsyncEngine) -> list[Any]:
    """Alembic's autogenerate comparison of the database with the enabled plugins' models ([] = in sync)."""
    tables = owned_tables(pm)
    metadata = models_metadata(pm)

    def work(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_object": include_tables(tables),
            "render_as_batch": connection.dialect.name == "sqlite",
        })
        return list(compare_metadata(context, metadata))

    return await _on_connection(engine, work)


def heads_by_branch(config: Config) -> dict[str, str]:
    """The head revision of each branch label."""
    script = ScriptDirectory.from_config(config)
    result: dict[str, str] = {}
    for revision in script.walk_revisions():
        for label in revision.branch_labels:
            if label not in result:
                heads = script.get_revisions(f"{label}@head")
                if heads:
                    result[label] = heads[0].revision
    return result


def create_revision(pm: pluggy.PluginManager, plugin: str, message: str, *, rev_id: str | None = None) -> Path | None:
    """Autogenerate a revision for ``plugin``'s tables only; None when its tables need no change.

    Works on a scratch SQLite database upgraded to every head, so the result does not depend
    on the state of the configured database.
    """
    found = {p.name: p for p in plugin_migrations(pm)}
    if plugin not in found:
        raise MigrationError(f"unknown or disabled plugin {plugin!r}; enabled: {', '.join(found)}")
    target = found[plugin]
    if target.path is None:
        raise MigrationError(f"plugin {plugin!r} has no migrations folder: answer the gateway_migrations_path hook")
    if not target.tables:
        raise MigrationError(f"plugin {plugin!r} owns no tables (its gateway_models hook returns none)")
    target.path.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/scratch.db"
        config = alembic_config(pm, url, include_object=include_tables(target.tables))
        heads = heads_by_branch(config)
        if plugin != CORE and CORE not in heads:
            raise MigrationError(f"the core branch has no revision yet: run `gateway db revision --plugin {CORE}` first")
        created: list[Any] = []

        def skip_empty(context: Any, revision: Any, directives: list[Any]) -> None:
            if directives and directives[0].upgrade_ops.is_empty():
                directives[:] = []

        def work(connection: Connection) -> None:
            config.attributes["connection"] = connection
            command.upgrade(config, "heads")
            first = plugin not in heads
            result = command.revision(
                config, message=message, autogenerate=True, rev_id=rev_id,
                head=f"{plugin}@head" if not first else "base",
                branch_label=plugin if first else None,
                depends_on=heads.get(CORE) if first and plugin != CORE else None,
                version_path=str(target.path) if first else None,
                process_revision_directives=skip_empty,
            )
            created.extend(result if isinstance(result, list) else [result])

        async def run() -> None:
            engine = create_engine(url)
            try:
                await _on_connection(engine, work)
            finally:
                await engine.dispose()

        asyncio.run(run())
    scripts = [s for s in created if s is not None]
    return Path(scripts[0].path) if scripts else None

