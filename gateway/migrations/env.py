"""The one Alembic environment of the gateway (see ``gateway/migrations/__init__.py``).

Run through ``gateway db upgrade`` / ``gateway db revision``, which pass a live connection,
the target metadata and the table filter in ``config.attributes``. Run through the plain
``alembic`` command, it reads the settings and the enabled plugins itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import types as sqltypes
from sqlalchemy.engine import Connection

config = context.config


def _defaults() -> None:
    """Fill what ``gateway.migrations.alembic_config`` would have given (plain ``alembic`` use)."""
    if "target_metadata" in config.attributes:
        return
    from gateway.migrations import include_tables, models_metadata, owned_tables
    from gateway.plugins import create_plugin_manager
    from gateway.settings import load_settings

    settings = load_settings()
    pm = create_plugin_manager(settings.plugins)
    config.attributes["target_metadata"] = models_metadata(pm)
    config.attributes["include_object"] = include_tables(owned_tables(pm))
    if not config.get_main_option("sqlalchemy.url"):
        config.set_main_option("sqlalchemy.url", settings.database_url)


def render_item(type_: str, obj: Any, autogen_context: Any) -> Any:
    """Render the gateway's TypeDecorators as their plain SQLAlchemy type: revisions import nothing of ours."""
    if type_ == "type" and isinstance(obj, sqltypes.TypeDecorator):
        impl = obj.impl if isinstance(obj.impl, sqltypes.TypeEngine) else obj.impl()
        return f"sa.{impl!r}"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=config.attributes["target_metadata"],
        include_object=config.attributes["include_object"],
        compare_type=True,
        render_item=render_item,
        version_table="alembic_version",
        **kwargs,
    )


def run_on(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def run_async(url: str) -> None:
    from gateway.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


_defaults()
if context.is_offline_mode():
    url = config.get_main_option("sqlalchemy.url")
    _configure(url=url, literal_binds=True, render_as_batch=bool(url and url.startswith("sqlite")))
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    run_on(config.attributes["connection"])
else:
    online_url = config.get_main_option("sqlalchemy.url")
    if online_url is None:  # _defaults() sets it from the settings when the caller did not
        raise RuntimeError("alembic: no sqlalchemy.url to migrate")
    asyncio.run(run_async(online_url))
