"""Alembic: one environment, one branch per plugin; `upgrade heads` builds exactly the models' schema.

The machinery tests use two throw-away plugins with their own tables and migration folders.
The real-migrations test upgrades a fresh SQLite file (and PostgreSQL schema when
GATEWAY_TEST_POSTGRES_URL is set) and compares it with every enabled plugin's models.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pluggy
import pytest
from sqlalchemy import ForeignKey, MetaData, String, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway import hookspecs
from gateway.db import NAMING_CONVENTION, MoneyAmount, UtcDateTime, create_engine
from gateway.hookspecs import hookimpl
from gateway.migrations import MigrationError, create_revision, revision_files, schema_diff, upgrade_heads
from gateway.plugins import create_plugin_manager
from gateway.testing import fresh_database


def scratch_models(*, with_note: bool = False) -> tuple[type, type]:
    """Two tables in their own MetaData; ``with_note`` adds a column (the next model version)."""

    class ScratchBase(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)
        type_annotation_map = {dt.datetime: UtcDateTime(), Decimal: MoneyAmount()}

    class Thing(ScratchBase):
        __tablename__ = "things"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50), unique=True)
        price: Mapped[Decimal]
        created_at: Mapped[dt.datetime]

    class Part(ScratchBase):
        __tablename__ = "parts"
        id: Mapped[int] = mapped_column(primary_key=True)
        thing_id: Mapped[int] = mapped_column(ForeignKey("things.id"), index=True)
        quantity: Mapped[int]
        if with_note:
            note: Mapped[str | None] = mapped_column(String(20))

    return Thing, Part


def scratch_plugins(tmp_path: Path, *, with_note: bool = False) -> pluggy.PluginManager:
    """Plugins ``core`` (things), ``extra`` (parts, a foreign key to things) and ``empty`` (no tables)."""
    thing, part = scratch_models(with_note=with_note)
    pm = pluggy.PluginManager("partner_gateway")
    pm.add_hookspecs(hookspecs)
    for name, models in (("core", [thing]), ("extra", [part]), ("empty", [])):
        folder = tmp_path / name / "migrations"
        pm.register(SimpleNamespace(
            gateway_models=hookimpl(lambda models=models: models),
            gateway_migrations_path=hookimpl(lambda folder=folder: str(folder)),
        ), name=name)
    return pm



async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


# ---------------------------------------------------------------- the machinery (scratch plugins)
def test_revisions_one_branch_per_plugin(tmp_path: Path) -> None:
    pm = scratch_plugins(tmp_path)
    with pytest.raises(MigrationError, match="core branch has no revision"):
        create_revision(pm, "extra", "parts")
    with pytest.raises(MigrationError, match="unknown or disabled plugin 'nope'"):
        create_revision(pm, "nope", "x")
    with pytest.raises(MigrationError, match="'empty' owns no tables"):
        create_revision(pm, "empty", "x")

    core = create_revision(pm, "core", "things", rev_id="core0001")
    extra = create_revision(pm, "extra", "parts", rev_id="extra0001")
    assert core is not None and core.parent == tmp_path / "core" / "migrations"
    assert extra is not None and extra.parent == tmp_path / "extra" / "migrations"
    core_text, extra_text = core.read_text(), extra.read_text()
    assert "branch_labels: Union[str, Sequence[str], None] = ('core',)" in core_text
    assert "op.create_table('things'" in core_text and "'parts'" not in core_text
    assert "branch_labels: Union[str, Sequence[str], None] = ('extra',)" in extra_text
    assert "depends_on: Union[str, Sequence[str], None] = 'core0001'" in extra_text
    assert "op.create_table('parts'" in extra_text and "create_table('things'" not in extra_text
    assert "gateway" not in core_text  # our TypeDecorators are rendered as plain SQLAlchemy types
    assert "sa.Numeric(precision=18, scale=4)" in core_text and "sa.DateTime(timezone=True)" in core_text
    assert create_revision(pm, "core", "nothing changed") is None


async def test_upgrade_heads_then_a_second_revision(tmp_path: Path, backend: str) -> None:
    pm = scratch_plugins(tmp_path)
    await in_thread(lambda: (create_revision(pm, "core", "things", rev_id="core0001"),
                             create_revision(pm, "extra", "parts", rev_id="extra0001")))
    async with fresh_database(backend, tmp_path, "migrations") as (engine, url):
        await upgrade_heads(pm, engine, url)
        assert {"things", "parts", "alembic_version"} <= await table_names(engine)
        assert await schema_diff(pm, engine) == []
        await upgrade_heads(pm, engine, url)  # at heads already: nothing to do

        newer = scratch_plugins(tmp_path, with_note=True)
        assert [d[0] for d in await schema_diff(newer, engine)] == ["add_column"]
        second = await in_thread(lambda: create_revision(newer, "extra", "note", rev_id="extra0002"))
        assert second is not None and second.parent == tmp_path / "extra" / "migrations"
        second_text = second.read_text()
        assert "down_revision: Union[str, Sequence[str], None] = 'extra0001'" in second_text
        assert "add_column(sa.Column('note'" in second_text and "things" not in second_text
        await upgrade_heads(newer, engine, url)
        assert await schema_diff(newer, engine) == []


async def in_thread(work: Any) -> Any:
    """create_revision runs its own event loop: run it in a thread from async tests."""
    import asyncio

    return await asyncio.to_thread(work)


# ---------------------------------------------------------------- the real migrations
async def test_upgrade_heads_matches_the_models(tmp_path: Path, backend: str) -> None:
    pm = create_plugin_manager(None)
    if not revision_files(pm):
        pytest.skip("no revisions generated yet")
    async with fresh_database(backend, tmp_path, "migrations") as (engine, url):
        await upgrade_heads(pm, engine, url)
        diff = await schema_diff(pm, engine)
        assert diff == [], "the models and the migrations differ; run `gateway db revision --plugin NAME -m MSG`:\n" \
            + "\n".join(map(str, diff))
        await upgrade_heads(pm, engine, url)



async def test_database_made_before_revisions_gets_a_clear_message(tmp_path: Path) -> None:
    from gateway.cli import upgrade_database
    from gateway.settings import load_settings

    settings = load_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/old.db", plugins="core")
    pm = scratch_plugins(tmp_path)
    await in_thread(lambda: create_revision(pm, "core", "things", rev_id="core0001"))
    engine = create_engine(settings.database_url)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY)"))
    await engine.dispose()
    with pytest.raises(MigrationError, match="has tables but no migration history"):
        await upgrade_database(settings, pm)


async def test_the_outbox_migration_keeps_old_notifications_without_sending_them(backend: str, tmp_path: Path) -> None:
    """Rows from before SMTP delivery: a sent one is SENT; an unsent one is FAILED with a note (an operator
    retries it), not mailed out of the blue; each gets its own Message-ID."""
    from alembic import command
    from sqlalchemy.engine import Connection

    from gateway.migrations import alembic_config

    pm = create_plugin_manager(["core"])
    async with fresh_database(backend, tmp_path, "outbox") as (engine, url):
        config = alembic_config(pm, url)

        def before(connection: Connection) -> None:
            config.attributes["connection"] = connection
            command.upgrade(config, "ed11e6554516")  # the core revision before the outbox's delivery state
            connection.execute(text(
                "INSERT INTO notifications (id, \"to\", subject, template, body, created_at, sent_at) VALUES "
                "(1, 'a@example.com', 'Hello', 't', 'b', '2026-11-01 10:00:00+00', '2026-11-01 10:00:01+00'), "
                "(2, 'b@example.com', 'Hello', 't', 'b', '2026-11-02 10:00:00+00', NULL)"))

        async with engine.begin() as connection:
            await connection.run_sync(before)
        await upgrade_heads(pm, engine, url)
        assert await schema_diff(pm, engine) == []
        async with engine.connect() as connection:
            rows = (await connection.execute(text(
                "SELECT id, status, attempts, message_id, last_error FROM notifications ORDER BY id"))).all()
    assert [(pk, status, attempts, message_id) for pk, status, attempts, message_id, _ in rows] == [
        (1, "SENT", 0, "<notification-1@partner-gateway.localhost>"),
        (2, "FAILED", 0, "<notification-2@partner-gateway.localhost>")]
    assert rows[0][4] is None and "gateway outbox retry" in rows[1][4]
