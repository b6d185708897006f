"""The safety net under every write: no INSERT or UPDATE puts a card number or a CVV in any table.

Field-level checks (every mutation's input, the billing rules) give the friendly refusal; this
guard is what a new column, a new plugin, a Core ``insert()``, an audit detail or a CLI command
cannot forget. It listens to every SQLAlchemy engine of the process (``before_cursor_execute``
on the ``Engine`` class), looks at each string parameter of a writing statement (JSON columns
arrive here as JSON text) and refuses the statement with a :class:`CardDataRefused` — a
``DomainError`` with code ``CARD_NUMBER_NOT_ACCEPTED`` naming the table and column, never the
value — so a mutation turns it into ``userErrors`` and rolls back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import cycle, repeat
from typing import Any

from sqlalchemy import JSON, event
from sqlalchemy.engine import Engine
from strawberry.utils.str_converters import to_camel_case

from gateway.errors import DomainError
from gateway.sensitive import CARD_NUMBER_MESSAGE, find_card_data

CARD_NUMBER_CODE = "CARD_NUMBER_NOT_ACCEPTED"
_WRITING = re.compile(r"\s*(?:INSERT|UPDATE|WITH|MERGE|REPLACE|UPSERT|COPY)\b", re.I)
_ROW_SUFFIX = re.compile(r"__\d+$")  # insertmanyvalues names a row's parameters name__0, name__1, ...


class CardDataRefused(DomainError):
    """A write would have stored card data; ``table`` and ``column`` say where (the value is never kept)."""

    def __init__(self, table: str | None, column: str | None) -> None:
        where = ".".join(part for part in (table, column) if part) or "a table"
        field = to_camel_case(column) if column else None
        super().__init__(CARD_NUMBER_CODE, f"{CARD_NUMBER_MESSAGE} (refused for {where})", field)
        self.table, self.column = table, column


def _parameter_names(context: Any, width: int) -> Iterable[str | None]:
    names = getattr(getattr(context, "compiled", None), "positiontup", None)
    if names and width % len(names) == 0:
        return cycle(names)
    return repeat(None)


def _table(context: Any) -> Any:
    return getattr(getattr(getattr(context, "compiled", None), "statement", None), "table", None)


def _table_name(context: Any) -> str | None:
    return getattr(_table(context), "name", None)


def _is_json_column(context: Any, column: str | None) -> bool:
    """Whether ``column`` of the written table is JSON; unknown (raw SQL, a WHERE value): treated as JSON,
    the lenient reading, so that a list of ids in an unlabelled parameter is not refused."""
    columns = getattr(_table(context), "c", None)
    if columns is None or column is None or column not in columns:
        return True
    return isinstance(columns[column].type, JSON)


def refuse_card_data(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                     executemany: bool) -> None:
    if not parameters or not _WRITING.match(statement):
        return
    # executemany gives rows; insertmanyvalues says executemany but gives one flat row of every row's values.
    many = executemany and isinstance(parameters, (list, tuple)) and isinstance(parameters[0], (list, tuple, dict))
    for row in (parameters if many else (parameters,)):
        if isinstance(row, dict):
            items: Iterable[tuple[Any, Any]] = row.items()
        else:
            items = zip(_parameter_names(context, len(row)), row, strict=False)  # the names repeat endlessly
        for name, value in items:
            if not isinstance(value, str):
                continue
            column = _ROW_SUFFIX.sub("", name) if isinstance(name, str) else None
            if find_card_data(value, json_text=_is_json_column(context, column)) is not None:
                raise CardDataRefused(_table_name(context), column)


def install() -> None:
    """Guard every engine of the process (idempotent)."""
    if not event.contains(Engine, "before_cursor_execute", refuse_card_data):
        event.listen(Engine, "before_cursor_execute", refuse_card_data)
