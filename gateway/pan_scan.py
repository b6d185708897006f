"""``gateway db scan-pan``: look through every table for card numbers and CVVs that should never be there.

The write guard (``gateway.card_guard``) stops card data at the door; this scan checks the
rooms: rows written before the guard existed, by another program, or by raw SQL. It reflects
the tables from the database itself (so tables of disabled plugins and foreign tables are
scanned too), reads every text, JSON and numeric column, streaming rows (never a whole table
in memory), and reports each hit as ``table.column`` with the row's primary key and the number
masked (first 6 / last 4 digits) — the number itself is never printed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import click
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.cli_support import redact, run, settings_of
from gateway.sensitive import contains_cvv, find_card_numbers, json_container, mask_card_number

STREAM_BATCH = 1000
_SCANNED_TYPES = (sa.String, sa.JSON, sa.Integer, sa.Numeric, sa.types.NullType)


@dataclass(frozen=True)
class CardDataHit:
    table: str
    column: str
    row_key: str
    masked: str  # 411111******1111, or "*** (a labelled CVV)"

    def __str__(self) -> str:
        return f"{self.table}.{self.column} [{self.row_key}]: {self.masked}"


@dataclass
class ScanReport:
    hits: list[CardDataHit]
    tables: int = 0
    columns: int = 0
    rows: int = 0


def _texts(value: Any, json_text: bool = True) -> Iterator[str]:
    """Every string and number inside ``value``: JSON text decoded (escapes can hide separators) and, but
    for a JSON column's own document (``json_text``: a list of ids is not one number), also as displayed."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, float):
        yield str(int(value)) if value.is_integer() else repr(value)
    elif isinstance(value, int):
        yield str(value)
    elif isinstance(value, str):
        decoded = json_container(value)
        if decoded is None or not json_text:
            yield value  # text as displayed
        if decoded is not None:  # as the write guard reads JSON: each string and number on its own, escapes decoded
            yield from _texts(decoded, json_text=False)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key, json_text=False)
            yield from _texts(item, json_text=False)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item, json_text=False)
    else:
        yield str(value)  # Decimal and other scalars


def describe_card_data(value: Any, *, json_text: bool = True) -> str | None:
    """The masked card number (or CVV mark) found in ``value``; None when it holds none. ``json_text``:
    ``value`` is a JSON column's text (unknown: read as JSON, the lenient reading)."""
    for text in _texts(value, json_text):
        numbers = find_card_numbers(text)
        if numbers:
            return mask_card_number(numbers[0][2])
        if contains_cvv(text):
            return "*** (a labelled CVV)"
    return None


def _tables(connection: Any) -> list[sa.Table]:
    metadata = sa.MetaData()
    metadata.reflect(bind=connection)
    return list(metadata.sorted_tables)


async def _scan_table(connection: AsyncConnection, table: sa.Table, report: ScanReport) -> AsyncIterator[CardDataHit]:
    scanned = [column for column in table.columns if isinstance(column.type, _SCANNED_TYPES)]
    if not scanned:
        return
    key_columns = list(table.primary_key.columns)
    # JSON comes back as its text: no decoding (a raw row may not even be valid JSON), escapes looked into by _texts.
    selected = [sa.type_coerce(column, sa.Text()) if isinstance(column.type, sa.JSON) else column for column in scanned]
    statement = sa.select(*key_columns, *selected).select_from(table)
    report.tables += 1
    report.columns += len(scanned)
    result = await connection.stream(statement.execution_options(yield_per=STREAM_BATCH))
    number = 0
    async for row in result:
        number += 1
        keys, values = row[:len(key_columns)], row[len(key_columns):]
        for column, value in zip(scanned, values, strict=True):
            masked = describe_card_data(value, json_text=isinstance(column.type, sa.JSON))
            if masked is not None:
                row_key = (", ".join(f"{c.name}={k}" for c, k in zip(key_columns, keys, strict=True))
                           if key_columns else f"row {number}")
                yield CardDataHit(table.name, column.name, row_key, masked)
    report.rows += number


async def scan_engine(engine: AsyncEngine, *, on_hit: Any = None, tables: list[sa.Table] | None = None) -> ScanReport:
    """Scan every table the engine's database has (or the given ``tables``); ``on_hit(hit)`` is called per hit."""
    report = ScanReport(hits=[])
    async with engine.connect() as connection:
        if tables is None:
            tables = await connection.run_sync(_tables)
        for table in tables:
            async for hit in _scan_table(connection, table, report):
                report.hits.append(hit)
                if on_hit is not None:
                    on_hit(hit)
        await connection.rollback()
    return report


async def scan_database(database_url: str, *, on_hit: Any = None) -> ScanReport:
    from gateway.db import create_engine

    engine = create_engine(database_url)
    try:
        return await scan_engine(engine, on_hit=on_hit)
    finally:
        await engine.dispose()


@click.command("scan-pan")
@click.option("--database-url", help="The database to scan (default: GATEWAY_DATABASE_URL).")
@click.pass_context
def scan_pan_command(ctx: click.Context, database_url: str | None) -> None:
    """Scan every text, JSON and numeric column for card numbers and CVVs; exit 1 on any hit.

    Each hit is printed as table.column [primary key]: the number masked (411111******1111).
    """
    from gateway.settings import load_settings

    url = load_settings(database_url=database_url).database_url if database_url else settings_of(ctx).database_url
    report = run(scan_database(url, on_hit=lambda hit: click.echo(f"card data: {hit}")))
    where = redact(url)
    if report.hits:
        tables = len({hit.table for hit in report.hits})
        raise click.ClickException(f"{where}: {len(report.hits)} value(s) holding card data in {tables} table(s); "
                                   "remove them (card data is never stored)")
    click.echo(f"{where}: no card data in {report.rows} row(s) of {report.tables} table(s) "
               f"({report.columns} column(s) scanned)")
