"""CSV that a spreadsheet opens as data, never as formulas (OWASP "CSV Injection").

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a
formula by Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)``, ``@SUM(...)``, DDE). Every
CSV the gateway writes — the export routes and ``gateway query --format csv`` — goes through
``SafeCsvWriter``: such a text cell is prefixed with a single quote and quoted, as OWASP advises;
a spreadsheet shows the text as typed, and the quote tells a reader it was neutralised.

Numbers stay numbers. A value the exporter holds as a number (int, Decimal, float) cannot carry a
formula and is written as is, negative or not; so is a text that is exactly a negative decimal
number (``-12.50``, how the API prints a negative Decimal amount), which a spreadsheet reads as
that number and nothing else. Any other text starting with ``-`` (``-1+2``, ``-A1``) is
neutralised, and so is ``+1``: a plus sign is never how the API prints a number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TextIO

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NEGATIVE_NUMBER = re.compile(r"-[0-9]+(\.[0-9]+)?")
_NEEDS_QUOTES = re.compile(r'[",\r\n]|^\s|\s$')


def neutralise(text: str) -> str:
    """The text as a spreadsheet must get it: formula triggers prefixed with a single quote."""
    if text.startswith(FORMULA_TRIGGERS) and not NEGATIVE_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_cell(value: Any) -> str:
    """One cell, quoted where CSV needs it and always when it was neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        return str(value)  # a number the exporter produced: never a formula
    safe = neutralise(value)
    if safe is not value or _NEEDS_QUOTES.search(value):
        return '"' + safe.replace('"', '""') + '"'
    return value


class SafeCsvWriter:
    """``csv.writer``'s writerow/writerows over a text stream, with every text cell neutralised."""

    def __init__(self, stream: TextIO, lineterminator: str = "\r\n") -> None:
        self.stream = stream
        self.lineterminator = lineterminator

    def writerow(self, row: Sequence[Any]) -> None:
        self.stream.write(",".join(csv_cell(value) for value in row) + self.lineterminator)

    def writerows(self, rows: Iterable[Sequence[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def write_dict_rows(stream: TextIO, columns: Sequence[str], rows: Iterable[Mapping[str, Any]],
                    lineterminator: str = "\n") -> None:
    """A header and one line per mapping (missing keys empty), like ``csv.DictWriter``."""
    writer = SafeCsvWriter(stream, lineterminator)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(column, "") for column in columns])
