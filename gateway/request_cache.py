"""The per-request cache: typed slots instead of string keys, and one cached by-primary-key loader.

A request reads the same rows from many places (``Payment.organization``, ``AuditEvent.organization``,
``node(id:)`` ...): each part declares, once and at module level, the slots it keeps for the length of
a request, and reads them through ``ctx.cache``::

    VIEWER_PARTNERS: Slot[dict[int, Partner]] = Slot("viewer_partners", dict)
    partners = ctx.cache.get(VIEWER_PARTNERS)          # typed: dict[int, Partner]

    organizations_by_pk = ByPrimaryKey("organizations", OrganizationRow, Organization.from_row)
    found = await organizations_by_pk(ctx, [3, None, 7])   # [Organization | None, None, Organization | None]

The slot object is the key, so two parts can never collide on a name, and a misspelt key is a
NameError at import instead of a silent miss. ``Context.transaction`` clears the whole cache after
a commit or rollback (the session's objects are expired then).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import select

V = TypeVar("V")
R = TypeVar("R")
T = TypeVar("T")


class Slot(Generic[V]):
    """One typed entry of the per-request cache; ``factory`` makes its empty value on first use."""

    __slots__ = ("name", "factory")

    def __init__(self, name: str, factory: Callable[[], V]) -> None:
        self.name = name  # for repr and debugging only: the object, not the name, is the key
        self.factory = factory

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


class RequestCache:
    """What one request remembers, slot by slot (see the module docstring)."""

    def __init__(self) -> None:
        self._values: dict[Slot[Any], Any] = {}
        self._locks: dict[Slot[Any], asyncio.Lock] = {}

    def get(self, slot: Slot[V]) -> V:
        """The slot's value, made empty by its factory on first use."""
        if slot not in self._values:
            self._values[slot] = slot.factory()
        value: V = self._values[slot]
        return value

    def peek(self, slot: Slot[V]) -> V | None:
        """The slot's value if something put it there, else None (nothing is created)."""
        value: V | None = self._values.get(slot)
        return value

    def __contains__(self, slot: Slot[Any]) -> bool:
        return slot in self._values

    def put(self, slot: Slot[V], value: V) -> V:
        self._values[slot] = value
        return value

    def lock(self, slot: Slot[Any]) -> asyncio.Lock:
        """One lock per slot: concurrent batches of a request wait for the first loader and reuse its rows."""
        lock = self._locks.get(slot)
        if lock is None:
            lock = self._locks[slot] = asyncio.Lock()
        return lock

    def forget(self, *slots: Slot[Any]) -> None:
        """Drop these slots (e.g. grants after a mutation changed who may do what)."""
        for slot in slots:
            self._values.pop(slot, None)
            self._locks.pop(slot, None)

    def clear(self) -> None:
        self._values.clear()
        self._locks.clear()


class CachingContext(Protocol):
    """What a cached loader needs of the request context (``gateway.context.Context`` is one)."""

    @property
    def cache(self) -> RequestCache: ...

    @property
    def session(self) -> Any: ...


class ByPrimaryKey(Generic[R, T]):
    """Objects of one type by primary key, each read at most once per request.

    ``model`` is the table (its key column is ``id``); ``to_object`` turns a row into the object
    the graph shows. Order is kept; a missing key or a None key gives None. No access check:
    callers decide what the viewer may see. One statement per call that finds keys not read yet.
    """

    def __init__(self, name: str, model: type[R], to_object: Callable[[R], T]) -> None:
        self.model = model
        self.to_object = to_object
        self.slot: Slot[dict[int, T]] = Slot(name, dict)

    async def __call__(self, ctx: CachingContext, pks: Sequence[int | None]) -> list[T | None]:
        cache = ctx.cache.get(self.slot)
        wanted = [pk for pk in {pk for pk in pks if pk is not None} if pk not in cache]
        if wanted:
            key: Any = getattr(self.model, "id")
            for row in (await ctx.session.scalars(select(self.model).where(key.in_(wanted)))).all():
                cache[row.id] = self.to_object(row)
        return [cache.get(pk) if pk is not None else None for pk in pks]

    def remember(self, ctx: CachingContext, objects: Iterable[tuple[int, T]]) -> None:
        """Keep objects read another way (a list query, a page) so later look-ups need no statement."""
        ctx.cache.get(self.slot).update(objects)

    def converter(self, ctx: CachingContext) -> Callable[[R], T]:
        """``to_object`` through this request's cache: a page of rows builds each object once, and later
        look-ups by key (``InvoiceLine.subscription``, ``node``) reuse it without a statement."""
        cache = ctx.cache.get(self.slot)

        def to_object(row: R) -> T:
            key: int = getattr(row, "id")
            found = cache.get(key)
            if found is None:
                found = cache[key] = self.to_object(row)
            return found

        return to_object

    def cached(self, ctx: CachingContext) -> dict[int, T]:
        """The objects this request has read so far, by primary key."""
        return ctx.cache.get(self.slot)
