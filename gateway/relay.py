"""Relay conventions: the ``Node`` interface, opaque global IDs and keyset-paginated connections."""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import strawberry
from sqlalchemy import Select, and_, func, literal, or_, select
from sqlalchemy.orm import QueryableAttribute, aliased
from sqlalchemy.sql.elements import ColumnElement, SQLColumnExpression

from gateway.errors import BadUserInput

if TYPE_CHECKING:
    from gateway.context import Context

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50


# ---------------------------------------------------------------- global IDs
def encode_id(type_name: str, pk: int | str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


# Every table's key is an INTEGER (32-bit on PostgreSQL): a key outside it names no row, and sent to
# the database it would be an overflow error rather than "not found".
MAX_PK = 2**31 - 1
MAX_GLOBAL_ID_LENGTH = 200
_PK_DIGITS = re.compile(r"[1-9][0-9]{0,9}")  # ASCII digits only: int() would take "1_0", " 7", "+3", "٣"
_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")


def decode_id(global_id: str, expected_type: str | None = None) -> tuple[str, int]:
    """Split a global ID into (type name, primary key); a malformed, out-of-range or wrong-typed ID is BAD_USER_INPUT."""
    shown = global_id if len(global_id) <= 60 else global_id[:60] + "…"
    invalid = BadUserInput(f"{shown!r} is not a valid ID (IDs are the opaque `id` values this API returns)")
    if len(global_id) > MAX_GLOBAL_ID_LENGTH:
        raise invalid
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, raw_pk = base64.urlsafe_b64decode(padded.encode("ascii")).decode().partition(":")
    except (binascii.Error, UnicodeError, ValueError):
        raise invalid from None
    if not _TYPE_NAME.fullmatch(type_name) or not _PK_DIGITS.fullmatch(raw_pk) or int(raw_pk) > MAX_PK:
        raise invalid
    pk = int(raw_pk)
    if expected_type is not None and type_name != expected_type:
        raise BadUserInput(f"{global_id!r} is the ID of a {type_name}, not of a {expected_type}")
    return type_name, pk


def decode_pk(global_id: str, expected_type: str) -> int:
    return decode_id(global_id, expected_type)[1]


@strawberry.interface(description="An object with a global ID, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


# ---------------------------------------------------------------- connection types
@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


async def _no_count() -> int:  # pragma: no cover - replaced in every real connection
    return 0


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    nodes: list[T] = strawberry.field(description="The nodes of `edges`, for clients that need no cursors.")
    page_info: PageInfo
    count_total: strawberry.Private[Callable[[], Awaitable[int]]] = _no_count

    @strawberry.field(description="How many items the whole connection holds, across every page.")
    async def total_count(self) -> int:
        return await self.count_total()


def make_connection(nodes: Sequence[T], cursors: Sequence[str], *, has_next: bool, has_previous: bool,
                    count_total: Callable[[], Awaitable[int]]) -> Connection[T]:
    edges = [Edge(cursor=cursor, node=node) for node, cursor in zip(nodes, cursors, strict=True)]
    return Connection(
        edges=edges,
        nodes=list(nodes),
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
        count_total=count_total,
    )


# ---------------------------------------------------------------- cursors
def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"dec": str(value)}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "dt" in value:
            return dt.datetime.fromisoformat(value["dt"])
        if "d" in value:
            return dt.date.fromisoformat(value["d"])
        if "dec" in value:
            return Decimal(value["dec"])
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(values, list) or len(values) != width:
            raise ValueError
        decoded = [_decode_value(v) for v in values]
        if any(isinstance(v, (dict, list)) for v in decoded):
            raise ValueError
        return decoded
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise BadUserInput(f"{cursor!r} is not a cursor of this connection") from None


# ---------------------------------------------------------------- paging arguments
@dataclass(frozen=True)
class PageArgs:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    def size(self, maximum: int) -> int:
        for name, value in (("first", self.first), ("last", self.last)):
            if value is not None and not 0 <= value <= maximum:
                raise BadUserInput(f"`{name}` must be between 0 and {maximum}, got {value}")
        if self.first is not None and self.last is not None:
            raise BadUserInput("pass `first` or `last`, not both")
        requested = self.last if self.last is not None else self.first
        return min(requested if requested is not None else DEFAULT_PAGE_SIZE, maximum)

    @property
    def backward(self) -> bool:
        return self.last is not None


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY term of a connection; the last key of a connection must be unique (the id)."""

    expr: SQLColumnExpression[Any]  # a column attribute (Model.name) or an expression
    descending: bool = False


def _column(expr: SQLColumnExpression[Any]) -> ColumnElement[Any]:
    """The column element a sort or group key stands for (an ORM attribute's is its ``expression``)."""
    if isinstance(expr, ColumnElement):
        return expr
    if isinstance(expr, QueryableAttribute):
        return expr.expression
    raise TypeError(f"a sort or group key is a column or a SQL expression, got {expr!r}")


def _seek_condition(keys: Sequence[SortKey], values: Sequence[Any], forward: bool) -> ColumnElement[bool]:
    """Rows strictly after (forward) or before the cursor values in the keys' order."""
    terms = []
    for i, key in enumerate(keys):
        value = literal(values[i], type_=_column(key.expr).type)
        greater = key.descending != forward  # True: the next rows have a greater value
        step = key.expr > value if greater else key.expr < value
        equal_prefix = [keys[j].expr == literal(values[j], type_=_column(keys[j].expr).type) for j in range(i)]
        terms.append(and_(*equal_prefix, step))
    return or_(*terms)


def _order_by(keys: Sequence[SortKey], reverse: bool) -> list[ColumnElement[Any]]:
    return [k.expr.desc() if k.descending != reverse else k.expr.asc() for k in keys]


async def paginate(
    ctx: Context,
    stmt: Select[Any],
    *,
    entity: Any,
    sort: Sequence[SortKey],
    page: PageArgs,
    to_node: Callable[[Any], T],
) -> Connection[T]:
    """Keyset-paginate ``stmt`` (a ``select(entity)`` with its filters) into a Connection."""
    pages = await paginate_grouped(ctx, stmt, entity=entity, sort=sort, page=page, to_node=to_node,
                                   group_by=None, group_keys=[None])
    return pages[None]


async def paginate_grouped(
    ctx: Context,
    stmt: Select[Any],
    *,
    entity: Any,
    sort: Sequence[SortKey],
    page: PageArgs,
    to_node: Callable[[Any], T],
    group_by: SQLColumnExpression[Any] | None,
    group_keys: Sequence[Any],
) -> dict[Any, Connection[T]]:
    """One page per group (e.g. per parent organization) in one statement, plus one lazy count.

    ``stmt`` must already restrict ``group_by`` to ``group_keys``. Top-N-per-group uses
    ROW_NUMBER() OVER (PARTITION BY group ORDER BY keys), so the statement count does not
    depend on how many parents there are.
    """
    size = page.size(ctx.settings.page_size_max)
    width = len(sort)
    filtered = stmt
    if page.after is not None:
        filtered = filtered.where(_seek_condition(sort, decode_cursor(page.after, width), forward=True))
    if page.before is not None:
        filtered = filtered.where(_seek_condition(sort, decode_cursor(page.before, width), forward=False))
    order = _order_by(sort, reverse=page.backward)
    key_labels = [_column(k.expr).label(f"_sort{i}") for i, k in enumerate(sort)]
    if group_by is None:
        query = filtered.add_columns(*key_labels, literal(None).label("_group")).order_by(*order).limit(size + 1)
        rows = [(row[0], list(row[1:1 + width]), None) for row in (await ctx.session.execute(query)).all()]
    else:
        ranked = filtered.add_columns(
            *key_labels,
            group_by.label("_group"),
            func.row_number().over(partition_by=group_by, order_by=order).label("_rank"),
        ).subquery()
        row_entity = aliased(entity, ranked)
        query = (
            select(row_entity, *[ranked.c[f"_sort{i}"] for i in range(width)], ranked.c["_group"])
            .where(ranked.c["_rank"] <= size + 1)
            .order_by(ranked.c["_group"], ranked.c["_rank"])
        )
        rows = [(row[0], list(row[1:1 + width]), row[1 + width]) for row in (await ctx.session.execute(query)).all()]

    by_group: dict[Any, list[tuple[Any, list[Any]]]] = {key: [] for key in group_keys}
    for obj, values, group in rows:
        by_group.setdefault(group, []).append((obj, values))

    count_total = _shared_counter(ctx, stmt, group_by)
    result: dict[Any, Connection[Any]] = {}
    for key in group_keys:
        items = by_group.get(key, [])
        more = len(items) > size
        items = items[:size]
        if page.backward:
            items.reverse()
        nodes = [to_node(obj) for obj, _ in items]
        cursors = [encode_cursor(values) for _, values in items]
        result[key] = make_connection(
            nodes,
            cursors,
            has_next=more if not page.backward else page.before is not None,
            has_previous=more if page.backward else page.after is not None,
            count_total=partial(count_total, key),
        )
    return result


def _shared_counter(ctx: Context, stmt: Select[Any], group_by: SQLColumnExpression[Any] | None) -> Callable[[Any], Awaitable[int]]:
    """A count of every group in one statement, run only if some `totalCount` is asked for."""
    counts: dict[Any, int] | None = None
    lock = asyncio.Lock()

    async def count(key: Any) -> int:
        nonlocal counts
        async with lock:
            if counts is not None:
                return counts.get(key, 0)
            if group_by is None:
                total = await ctx.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
                counts = {None: int(total or 0)}
            else:
                grouped = stmt.order_by(None).add_columns(group_by.label("_group")).subquery()
                rows = await ctx.session.execute(
                    select(grouped.c["_group"], func.count()).group_by(grouped.c["_group"])
                )
                counts = {group: int(n) for group, n in rows.all()}
        return counts.get(key, 0)

    return count
