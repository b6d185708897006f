"""The events part of the core, as a plugin: every domain event stored as an ``Event``.

It declares ``gateway_event_stored`` (``schema/events/hookspecs.py``), called once a stored event has
its row, in the transaction of the change (webhooks create their deliveries there).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy

from gateway.context import Context
from gateway.events import DomainEvent
from gateway.hookspecs import hookimpl
from schema.events import hookspecs
from schema.events.queries import OrganizationEventFields, PartnerEventFields
from schema.events.service import store_event
from schema.events.types import Event, visible_events

if TYPE_CHECKING:
    from gateway.hookspecs import NodeResolver


@hookimpl
def gateway_add_hookspecs(pm: pluggy.PluginManager) -> None:
    pm.add_hookspecs(hookspecs)


@hookimpl(tryfirst=True)  # stored before other receivers act on it
async def gateway_event(ctx: Context, event: DomainEvent) -> None:
    await store_event(ctx, event)


@hookimpl
def gateway_types() -> list[type]:
    return [Event]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [OrganizationEventFields, PartnerEventFields]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"Event": visible_events}
