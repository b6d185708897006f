"""Domain events as data, and the one way to emit them.

A part that owns a change defines its events as frozen dataclasses deriving from
:class:`DomainEvent` (``schema/subscriptions/events.py``, ``plugins/vertical/events.py``...),
each with a stable ``type`` name (the ``Event.type`` of the API) and plain, serialisable
fields (ids, codes, amounts; never ORM objects). A service calls :func:`emit` in the
transaction of the change:

- the ``gateway_event(ctx, event)`` hook runs at once, inside that transaction: a receiver's
  writes commit or roll back with the change (a receiver that raises fails the change);
- the event is recorded on the request's session as *pending*; when the transaction commits
  it moves to the *committed* record (:func:`committed_events`), which after-commit consumers
  (the event table and webhooks of the next wave, tests) read. A rolled-back transaction
  drops its pending events: nothing is delivered for a change that did not happen.

The host knows no event type: it only knows the base class, the JSON form and the record.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import types
import typing
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, Union

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from gateway.db import utcnow
from gateway.plugins import call_hook

if TYPE_CHECKING:
    from gateway.context import Context

PENDING = "gateway.events.pending"
COMMITTED = "gateway.events.committed"
E = TypeVar("E", bound="DomainEvent")

_EVENT_TYPES: dict[str, type[DomainEvent]] = {}


class EventTypeClash(Exception):
    """Two event classes claim the same ``type`` name."""


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Something that happened to the business data, as plain values.

    Subclasses set ``type`` (a class attribute, ``"<noun>.<past participle>"``; plugins prefix
    theirs with their product) and declare their fields; ``occurred_at`` defaults to now.
    """

    type: ClassVar[str]
    # The action a reader must also hold on the object the event concerns to read it at all, for an event
    # whose data is more sensitive than the event list itself (amounts, payment details); None: no more.
    read_action: ClassVar[str | None] = None
    occurred_at: dt.datetime = field(default_factory=utcnow)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("type")
        if name is None:  # a family of events sharing fields (e.g. every subscription event): not emitted itself
            return
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls.__qualname__}.type must be a name such as 'subscription.changed'")
        known = _EVENT_TYPES.get(name)
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise EventTypeClash(f"event type {name!r} is declared by both {known.__module__}.{known.__qualname__} "
                                 f"and {cls.__module__}.{cls.__qualname__}")
        _EVENT_TYPES[name] = cls

    def __post_init__(self) -> None:
        if "type" not in type(self).__dict__:
            raise TypeError(f"{type(self).__qualname__} declares no type name; emit one of its subclasses")

    def to_json(self) -> dict[str, Any]:
        """The ``data`` of the API's ``Event``: every field, Decimals as strings, datetimes in ISO 8601."""
        return {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls: builtins.type[E], data: dict[str, Any]) -> E:
        """The event back from :meth:`to_json` (a webhook receiver or the event table reads it so)."""
        hints = typing.get_type_hints(cls)
        return cls(**{f.name: _from_json(hints[f.name], data[f.name])
                      for f in dataclasses.fields(cls) if f.name in data})


def event_types() -> dict[str, type[DomainEvent]]:
    """Every event class imported so far, by type name."""
    return dict(_EVENT_TYPES)


def restricted_event_types() -> dict[str, list[str]]:
    """The event types whose readers need more than the event list's own action: {read_action: [types]}."""
    restricted: dict[str, list[str]] = {}
    for name, cls in sorted(_EVENT_TYPES.items()):
        if cls.read_action is not None:
            restricted.setdefault(cls.read_action, []).append(name)
    return restricted


def _to_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (list, tuple, frozenset, set)):
        return [_to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _to_json(item) for key, item in value.items()}
    return value


def _from_json(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _from_json(options[0], value) if len(options) == 1 else value
    if origin in (tuple, list, frozenset):
        (item_hint, *_) = typing.get_args(hint) or (Any,)
        return origin(_from_json(item_hint, item) for item in value)
    if hint is Decimal:
        return Decimal(value)
    if hint is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if hint is dt.date:
        return dt.date.fromisoformat(value)
    return value


async def emit(ctx: Context, event: DomainEvent) -> None:
    """Emit ``event`` in the current transaction: receivers run now, after-commit consumers see it on commit."""
    ctx.session.info.setdefault(PENDING, []).append(event)
    await call_hook(ctx.hooks.gateway_event, ctx=ctx, event=event)


def committed_events(ctx: Context) -> list[DomainEvent]:
    """The events of this request's committed transactions, in emission order."""
    return list(ctx.session.info.get(COMMITTED, ()))


def pending_events(ctx: Context) -> list[DomainEvent]:
    """The events emitted in the open transaction (not committed yet)."""
    return list(ctx.session.info.get(PENDING, ()))


@sa_event.listens_for(Session, "after_commit")
def _commit_pending(session: Session) -> None:
    pending = session.info.pop(PENDING, None)
    if pending:
        session.info.setdefault(COMMITTED, []).extend(pending)


@sa_event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(PENDING, None)
