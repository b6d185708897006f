"""The events part of the core, as a plugin: every domain event stored as an ``Event``.

It declares ``gateway_event_stored`` (``schema/events/hookspecs.py``), called once a stored event has
its row, in the transaction of the change (webhooks create their deliveries there).
"""

from __future__ import annotations

import pluggy

from gateway.context import Context
from gateway.events import DomainEvent
from gateway.hookspecs import hookimpl
from schema.events import hookspecs
from schema.events.service import store_event


@hookimpl
def gateway_add_hookspecs(pm: pluggy.PluginManager) -> None:
    pm.add_hookspecs(hookspecs)


@hookimpl(tryfirst=True)  # stored before other receivers act on it
async def gateway_event(ctx: Context, event: DomainEvent) -> None:
    await store_event(ctx, event)
