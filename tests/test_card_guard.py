"""The write guard under every table, and ``gateway db scan-pan`` over every table (issue 11, item 2)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import AsyncIterator
from itertools import cycle
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from gateway.card_guard import CardDataRefused
from gateway.cli import cli
from gateway.db import Base, create_engine
from gateway.models import User
from gateway.pan_scan import describe_card_data, scan_engine
from gateway.runtime import Runtime
from gateway.testing import POSTGRES_ENV, shared_runtime

CARD_NUMBERS = ["4111.1111.1111.1111", "4111/1111/1111/1111", "4111_1111_1111_1111", "4111\u00a01111\u00a01111\u00a01111",
                "4111\u200b1111\u200b1111\u200b1111", "\uff15\uff15\uff15\uff15-5555-5555-4444", "cvv: 123"]


@pytest.fixture
async def runtime(backend: str) -> AsyncIterator[Runtime]:
    """Every plugin enabled, so that every plugin's tables are in the metadata."""
    yield await shared_runtime(backend)


def text_columns() -> list[sa.Column]:
    return [column for table in Base.metadata.sorted_tables for column in table.columns
            if isinstance(column.type, (sa.String, sa.JSON))]


async def test_no_text_or_json_column_of_any_table_takes_a_card_number(runtime: Runtime) -> None:
    columns = text_columns()
    tables = {column.table.name for column in columns}
    assert {"organizations", "large_deals", "audit_events", "payment_methods", "mail_policies", "mail_organizations",
            "vertical_solution_versions", "desk_im_credit_transactions"} <= tables
    refused = []
    async with runtime.engine.connect() as connection:
        for column, text in zip(columns, cycle(CARD_NUMBERS)):
            values: dict[str, Any] = {key.name: "x" for key in column.table.primary_key.columns
                                      if isinstance(key.type, sa.String)}  # string keys have no default
            values[column.name] = {"note": [text]} if isinstance(column.type, sa.JSON) else text
            try:
                await connection.execute(sa.insert(column.table).values(values))
            except CardDataRefused as error:
                refused.append((error.table, error.column))
            finally:
                await connection.rollback()
    assert refused == [(column.table.name, column.name) for column in columns]


async def test_updates_and_many_rows_at_once_are_guarded_and_nothing_is_kept(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        with pytest.raises(CardDataRefused) as refused:
            async with session.begin():
                session.add_all([User(email=f"u{i}@example.com", name=f"User {i}") for i in range(3)]
                                + [User(email="pat@example.com", name="Pat 4111 1111 1111 1111")])
        assert (refused.value.table, refused.value.column, refused.value.field) == ("users", "name", ["name"])
        assert "4111" not in refused.value.message
        async with session.begin():
            user = User(email="kim@example.com", name="Kim")
            session.add(user)
        with pytest.raises(CardDataRefused):
            async with session.begin():
                (await session.get(User, user.id)).name = "Kim 5555\u20605555\u20605555\u20604444"
        async with session.begin():
            names = (await session.scalars(sa.select(User.name))).all()
    assert names == ["Kim"]


async def test_json_is_read_value_by_value_so_a_list_of_ids_is_not_a_card_number(runtime: Runtime) -> None:
    """[4111, 1111, 1111, 1111] written as text would read as one number; as JSON it is four ids."""
    from schema.models import AuditEvent

    async with runtime.sessions() as session, session.begin():
        session.add(AuditEvent(via="TEST", action="bulk", details={"instanceIds": [4111, 1111, 1111, 1111]}))
    with pytest.raises(CardDataRefused):
        async with runtime.sessions() as session, session.begin():
            session.add(AuditEvent(via="TEST", action="bulk", details={"ids": [4111111111111111]}))
    assert (await scan_engine(runtime.engine)).hits == []


def test_describe_card_data_masks() -> None:
    assert describe_card_data("Suite 4111\u00a01111\u00a01111\u00a01111") == "411111******1111"
    assert describe_card_data('{"n": "5555\\u200b5555\\u200b5555\\u200b4444"}') == "555555******4444"
    assert describe_card_data(378282246310005) == "378282*****0005"
    assert describe_card_data("cvv 123") == "*** (a labelled CVV)"
    assert describe_card_data({"ok": "2024-01-05"}) is None


# ---------------------------------------------------------------- gateway db scan-pan
def _scan(url: str) -> Any:
    return CliRunner().invoke(cli, ["db", "scan-pan", "--database-url", url])


def _sqlite_database(path: Path) -> str:
    url = f"sqlite+aiosqlite:///{path}"

    async def create() -> None:
        engine = create_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
            await connection.execute(sa.insert(User).values(email="kim@example.com", name="Kim, +1 555 123 4567"))
        await engine.dispose()

    asyncio.run(create())
    return url


def test_scan_pan_on_sqlite_exits_0_when_clean_and_1_with_a_masked_report(tmp_path: Path) -> None:
    url = _sqlite_database(tmp_path / "gateway.db")
    clean = _scan(url)
    assert clean.exit_code == 0, clean.output
    assert "no card data" in clean.output and f"{len(Base.metadata.tables)} table(s)" in clean.output
    raw = sqlite3.connect(tmp_path / "gateway.db")  # a raw driver: past the guard, as an old row or another program
    raw.execute("UPDATE users SET name = ? WHERE email = ?", ("Kim 4111\u200b1111\u200b1111\u200b1111", "kim@example.com"))
    raw.execute("INSERT INTO audit_events (via, action, details, at) VALUES ('X', 'x', ?, '2026-01-01')",
                ('{"brand": "VISA", "pan": "5555\\u00a05555\\u00a05555\\u00a04444"}',))
    raw.commit()
    raw.close()
    found = _scan(url)
    assert found.exit_code == 1
    assert "card data: users.name [id=1]: 411111******1111" in found.output
    assert "card data: audit_events.details [id=1]: 555555******4444" in found.output
    assert "2 value(s) holding card data in 2 table(s)" in found.output
    assert "4111\u200b1111" not in found.output and "4111111111111111" not in found.output


@pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} is not set")
def test_scan_pan_on_postgresql() -> None:
    import asyncpg

    url = os.environ[POSTGRES_ENV]
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")

    async def raw(*statements: str) -> None:
        connection = await asyncpg.connect(dsn)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(raw("DROP TABLE IF EXISTS pan_scan_probe",
                    "CREATE TABLE pan_scan_probe (id serial primary key, note text, data jsonb, n bigint)",
                    "INSERT INTO pan_scan_probe (note, data, n) VALUES ('fine 2024-01-05', '{\"a\": 1}', 42)"))
    try:
        assert _scan(url).exit_code == 0
        asyncio.run(raw("INSERT INTO pan_scan_probe (note, data, n) VALUES "
                        "('4111.1111.1111.1111', '{\"x\": \"5555\\u00a05555\\u00a05555\\u00a04444\"}', 378282246310005)"))
        found = _scan(url)
        assert found.exit_code == 1
        for line in ("pan_scan_probe.note [id=2]: 411111******1111", "pan_scan_probe.data [id=2]: 555555******4444",
                     "pan_scan_probe.n [id=2]: 378282*****0005"):
            assert line in found.output
    finally:
        asyncio.run(raw("DROP TABLE IF EXISTS pan_scan_probe"))


async def test_scan_engine_streams_every_table_of_a_test_database(runtime: Runtime) -> None:
    report = await scan_engine(runtime.engine)
    assert report.hits == [] and report.tables >= len(Base.metadata.tables)
