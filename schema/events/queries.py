"""``Organization.events`` and ``Partner.events``: one statement per level whatever the number of parents."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import InstrumentedAttribute

from gateway.batch import batch_field
from gateway.composition import extends
from gateway.context import Context
from gateway.errors import BadUserInput
from gateway.relay import Connection, PageArgs, paginate_grouped
from schema.access import allowed_organizations, allowed_partners
from schema.events.types import EVENT_SORT, READ_ORGANIZATION_EVENTS, READ_PARTNER_EVENTS, Event, readable_types
from schema.models import EventRecord
from schema.organizations.types import Organization, refusal
from schema.partners.types import Partner

MAX_TYPES = 50
TYPES_HELP = "Only events of these types (e.g. [\"subscription.changed\", \"payment.recorded\"])."


def _of_types(types: Sequence[str] | None) -> ColumnElement[bool]:
    if types is None:
        return true()
    wanted = list(dict.fromkeys(types))
    if len(wanted) > MAX_TYPES:
        raise BadUserInput(f"`types` takes at most {MAX_TYPES} event types, got {len(wanted)}")
    return EventRecord.type.in_(wanted)


async def _pages(ctx: Context, group: InstrumentedAttribute[int | None], keys: list[int], first: int | None,
                 after: str | None, types: list[str] | None) -> dict[int, Connection[Event]]:
    """One page of events per key of ``group`` (the organization or the partner), in one statement."""
    if not keys:
        return {}
    return await paginate_grouped(
        ctx, select(EventRecord).where(group.in_(keys), _of_types(types), await readable_types(ctx)),
        entity=EventRecord, sort=EVENT_SORT, page=PageArgs(first=first, after=after), to_node=Event.from_row,
        group_by=group, group_keys=keys,
    )


@extends(Organization)
class OrganizationEventFields:
    @batch_field(description="What happened to this organization's subscriptions, payments and partner access, newest "
                             "first. Its super admin and admins, its delegated partner admin, its mapped partner's "
                             "admins and analysts and platform staff read them.")
    @staticmethod
    async def events(parents: list[Organization], ctx: Context, first: int | None = None, after: str | None = None,
                     types: list[str] | None = None) -> list[Connection[Event] | Exception]:
        allowed = await allowed_organizations(ctx, READ_ORGANIZATION_EVENTS, [p.pk for p in parents])
        pages = await _pages(ctx, EventRecord.organization_id, [p.pk for p in parents if p.pk in allowed],
                             first, after, types)
        return [pages.get(p.pk) or refusal(ctx, READ_ORGANIZATION_EVENTS, p.pk) for p in parents]


@extends(Partner)
class PartnerEventFields:
    @batch_field(description="The events concerning this partner (its customers' while mapped to it, its delegated "
                             "and developer access), newest first: what its webhooks receive. The partner's admins "
                             "and analysts and platform staff read them.")
    @staticmethod
    async def events(parents: list[Partner], ctx: Context, first: int | None = None, after: str | None = None,
                     types: list[str] | None = None) -> list[Connection[Event] | Exception]:
        allowed = await allowed_partners(ctx, READ_PARTNER_EVENTS, [p.pk for p in parents])
        pages = await _pages(ctx, EventRecord.partner_id, [p.pk for p in parents if p.pk in allowed],
                             first, after, types)
        return [pages.get(p.pk) or ctx.refusal(READ_PARTNER_EVENTS) for p in parents]
