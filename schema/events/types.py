"""The stored events as the graph shows them: ``Event``, and who may read one by ``node(id:)``."""

from __future__ import annotations

import datetime as dt

import strawberry
from sqlalchemy import ColumnElement, and_, or_, select, true
from strawberry.scalars import JSON

from gateway.batch import batch_field
from gateway.context import Context
from gateway.events import restricted_event_types
from gateway.relay import Node, SortKey, encode_id
from schema.access import allowed_organizations, allowed_partners, visible_organizations_clause
from schema.models import EventRecord
from schema.models import Organization as OrganizationRow
from schema.organizations.types import Organization, visible_organizations
from schema.partners.types import Partner, partners_by_pk

READ_ORGANIZATION_EVENTS = "organization.read_events"
READ_PARTNER_EVENTS = "partner.read_events"
EVENT_SORT = [SortKey(EventRecord.id, descending=True)]  # newest first: ids follow the order events were stored


@strawberry.type(description="Something that happened to the business data (a subscription changed, a payment was "
                             "recorded, a partner got access...), as stored when it happened; webhooks deliver the "
                             "same `type` and `data`. Newest first in every list.")
class Event(Node):
    id: strawberry.ID
    type: str = strawberry.field(description="What happened: `subscription.changed`, `payment.recorded`... "
                                             "(a plugin's own types start with its product).")
    occurred_at: dt.datetime
    data: JSON = strawberry.field(description="The event's fields (ids as stored numbers, amounts as strings, "
                                              "times in ISO 8601).")
    organization_pk: strawberry.Private[int | None]
    partner_pk: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: EventRecord) -> Event:
        return cls(id=strawberry.ID(encode_id("Event", row.id)), type=row.type, occurred_at=row.occurred_at,
                   data=JSON(row.data), organization_pk=row.organization_id, partner_pk=row.partner_id)

    @batch_field(description="The organization the event is about; null for a partner's or the platform's own "
                             "event, or when you may not see the organization.")
    @staticmethod
    async def organization(parents: list[Event], ctx: Context) -> list[Organization | None]:
        pks = list({p.organization_pk for p in parents if p.organization_pk is not None})
        found = {o.pk: o for o in await visible_organizations(ctx, pks) if o is not None}
        return [found.get(p.organization_pk) if p.organization_pk is not None else None for p in parents]

    @batch_field(description="The partner the event concerns: the organization's mapped partner when it happened, "
                             "or the partner it names (delegated or developer access); null when none.")
    @staticmethod
    async def partner(parents: list[Event], ctx: Context) -> list[Partner | None]:
        return await partners_by_pk(ctx, [p.partner_pk for p in parents])


async def readable_types(ctx: Context) -> ColumnElement[bool]:
    """Leaves out the events whose data needs an action the viewer lacks on their organization
    (``DomainEvent.read_action``: a payment's amount for those who may not read billing details)."""
    conditions = [or_(EventRecord.type.not_in(types), EventRecord.organization_id.in_(
                      select(OrganizationRow.id).where(await visible_organizations_clause(ctx, action))))
                  for action, types in restricted_event_types().items()]
    return and_(*conditions) if conditions else true()


async def visible_events(ctx: Context, pks: list[int]) -> list[Event | None]:
    """``node(id:)`` for events: readable through its organization or through its partner; an event with
    neither (the platform's own) by platform staff only."""
    viewer = ctx.require_user()
    rows = {row.id: row for row in (await ctx.session.scalars(select(EventRecord).where(EventRecord.id.in_(pks)))).all()}
    staff = viewer.platform_role in ("ADMIN", "ANALYST")
    organizations = await allowed_organizations(
        ctx, READ_ORGANIZATION_EVENTS, {r.organization_id for r in rows.values() if r.organization_id is not None})
    partners = await allowed_partners(
        ctx, READ_PARTNER_EVENTS, {r.partner_id for r in rows.values() if r.partner_id is not None})

    restricted = {name: action for action, names in restricted_event_types().items() for name in names}
    detail_readers = {action: await allowed_organizations(
        ctx, action, {r.organization_id for r in rows.values() if r.organization_id is not None and r.type in names})
        for action, names in restricted_event_types().items()}

    def visible(row: EventRecord) -> bool:
        action = restricted.get(row.type)
        if action is not None and row.organization_id not in detail_readers[action]:
            return False  # e.g. a payment's amount: billing readers of its organization only
        return staff or row.organization_id in organizations or row.partner_id in partners

    return [Event.from_row(rows[pk]) if pk in rows and visible(rows[pk]) else None for pk in pks]
