"""Input the database cannot store is the client's mistake (BAD_USER_INPUT), never an internal error.

Two nets, for every table of every part:

- before a flush, every string written to a ``String(n)`` column is checked against ``n``: PostgreSQL
  would refuse it ("value too long for type character varying(n)") and SQLite would silently keep
  it; the refusal names the field and its limit;
- a data exception the database still raises (SQLSTATE class 22: out of range, invalid text
  representation, ...) or a driver's integer overflow is presented as BAD_USER_INPUT too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, event, inspect
from sqlalchemy.orm import Session
from strawberry.utils.str_converters import to_camel_case

from gateway.errors import BadUserInput
from gateway.faults import exception_chain


def check_string_lengths(session: Session, _context: Any = None, _instances: Any = None) -> None:
    """Refuse a pending row whose text is longer than its column allows."""
    for obj in [*session.new, *session.dirty]:
        state = inspect(obj)
        for prop in state.mapper.column_attrs:
            column = prop.columns[0]
            limit = getattr(column.type, "length", None)
            if not isinstance(column.type, String) or not limit:
                continue
            value = state.dict.get(prop.key)
            if isinstance(value, str) and len(value) > limit:
                field = to_camel_case(prop.key)
                raise BadUserInput(f"`{field}` takes at most {limit} characters; {len(value)} were given.",
                                   field=field, maxLength=limit)


def install_length_checks(session_class: type[Session]) -> None:
    event.listen(session_class, "before_flush", check_string_lengths)


def is_invalid_data_error(error: BaseException) -> bool:
    """A database's refusal of a value (not of the statement): the request's fault."""
    for current in exception_chain(error):
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith("22"):
            return True
        if isinstance(current, OverflowError) and "too large to convert" in str(current):  # SQLite's INTEGER
            return True
    return False
