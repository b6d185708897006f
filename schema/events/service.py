"""Storing domain events: one ``events`` row per emitted event, in the transaction of its change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.plugins import call_hook
from schema.models import EventRecord
from schema.models import Organization as OrganizationRow

if TYPE_CHECKING:
    from gateway.context import Context
    from gateway.events import DomainEvent


def _key_field(event: DomainEvent, name: str) -> int | None:
    value = getattr(event, name, None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def concerned_partner(ctx: Context, event: DomainEvent, organization_id: int | None) -> int | None:
    """The partner ``event`` concerns: its own ``partner_id`` (a partner event, an access granted to a partner,
    a developer's access), else the organization's mapped partner now (None: the organization has none)."""
    partner_id = _key_field(event, "partner_id")
    if partner_id is not None or organization_id is None:
        return partner_id
    # The change that emits an organization's event has nearly always loaded the organization (to authorize
    # it): the session's identity map answers without SQL, and it holds the mapping as the change left it.
    organization = await ctx.session.get(OrganizationRow, organization_id)
    return organization.partner_id if organization is not None else None


async def store_event(ctx: Context, event: DomainEvent) -> EventRecord:
    """Write ``event`` as an ``events`` row (flushed, so it has its id), then call ``gateway_event_stored``."""
    organization_id = _key_field(event, "organization_id")
    record = EventRecord(type=event.type, occurred_at=event.occurred_at, organization_id=organization_id,
                         partner_id=await concerned_partner(ctx, event, organization_id), data=event.to_json())
    ctx.session.add(record)
    await ctx.session.flush()
    await call_hook(ctx.hooks.gateway_event_stored, ctx=ctx, event=event, record=record)
    return record
