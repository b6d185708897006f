"""The hooks the events part declares (added by its ``gateway_add_hookspecs``) and calls."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from gateway.hookspecs import hookspec

if TYPE_CHECKING:
    from gateway.context import Context
    from gateway.events import DomainEvent
    from schema.models import EventRecord


@hookspec
def gateway_event_stored(ctx: Context, event: DomainEvent, record: EventRecord) -> Awaitable[None] | None:
    """``event`` was stored as ``record`` (flushed: ``record.id`` is set), inside the transaction of its change.

    ``record.partner_id`` is the partner the event concerns (the organization's mapped partner when it
    happened, or the partner of a partner event); ``record.data`` is ``event.to_json()``. A receiver's
    writes (e.g. webhook deliveries) commit or roll back with the change; raising fails the change.
    """
