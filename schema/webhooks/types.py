"""Webhook endpoints and deliveries as the graph shows them, and Partner.webhookEndpoints."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry
from sqlalchemy import select

from gateway.batch import batch_field
from gateway.composition import extends
from gateway.context import Context
from gateway.errors import UserError
from gateway.relay import Connection, Node, PageArgs, SortKey, encode_id, paginate_grouped
from schema.access import allowed_partners
from schema.common import required
from schema.events.types import Event, readable_types, visible_events
from schema.models import EventRecord
from schema.models import WebhookDelivery as DeliveryRow
from schema.models import WebhookEndpoint as EndpointRow
from schema.organizations.types import refusal
from schema.partners.types import Partner, partners_by_pk

READ_ACTION = "partner.read_webhooks"


@strawberry.enum(description="PENDING: to be sent (again); SUCCEEDED: the endpoint answered 2xx; FAILED: every "
                             "retry failed (redeliverWebhook sends it again).")
class WebhookDeliveryStatus(enum.Enum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@strawberry.type(description="One event sent to one endpoint: its attempts and the endpoint's last answer. The "
                             "`webhook-id` header of every attempt is this delivery's ID.")
class WebhookDelivery(Node):
    id: strawberry.ID
    status: WebhookDeliveryStatus
    attempts: int = strawberry.field(description="Attempts made so far (a redelivery counts from 0 again).")
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None = strawberry.field(
        description="When the next attempt is due (PENDING only).")
    response_status: int | None = strawberry.field(description="The HTTP status of the last answer; null when "
                                                                "there was none (timeout, connection refused).")
    last_error: str | None = strawberry.field(description="Why the last attempt failed; null after a success.")
    created_at: dt.datetime
    pk: strawberry.Private[int]
    event_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: DeliveryRow) -> WebhookDelivery:
        return cls(id=strawberry.ID(encode_id("WebhookDelivery", row.id)), status=WebhookDeliveryStatus(row.status),
                   attempts=row.attempts, last_attempt_at=row.last_attempt_at, next_attempt_at=row.next_attempt_at,
                   response_status=row.response_status, last_error=row.last_error, created_at=row.created_at,
                   pk=row.id, event_pk=row.event_id)

    # The event as node(id:) shows it: a delivery reached another way (redeliverWebhook's payload, by a
    # webhook manager who may no longer read the organization's payment details) does not show it either.
    @batch_field(description="The event delivered.")
    @staticmethod
    async def event(parents: list[WebhookDelivery], ctx: Context) -> list[Event | Exception]:
        pks = list({p.event_pk for p in parents})
        found = dict(zip(pks, await visible_events(ctx, pks), strict=True))
        return required([found.get(p.event_pk) for p in parents], "Event")


@strawberry.type(description="A partner's URL that receives its events, signed per Standard Webhooks. The signing "
                             "secret is shown once, by createWebhookEndpoint and rotateWebhookSecret.")
class WebhookEndpoint(Node):
    id: strawberry.ID
    url: str
    event_types: list[str] = strawberry.field(description="The event types sent: names, `prefix.*` or `*` (all).")
    enabled: bool
    disabled_reason: str | None = strawberry.field(
        description="Why the gateway disabled the endpoint (deliveries failing), until it is enabled again.")
    created_at: dt.datetime
    pk: strawberry.Private[int]
    partner_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: EndpointRow) -> WebhookEndpoint:
        return cls(id=strawberry.ID(encode_id("WebhookEndpoint", row.id)), url=row.url,
                   event_types=list(row.event_types), enabled=row.enabled, disabled_reason=row.disabled_reason,
                   created_at=row.created_at, pk=row.id, partner_pk=row.partner_id)

    @batch_field
    @staticmethod
    async def partner(parents: list[WebhookEndpoint], ctx: Context) -> list[Partner | None]:
        return await partners_by_pk(ctx, [p.partner_pk for p in parents])

    @batch_field(description="Deliveries to this endpoint, newest first.")
    @staticmethod
    async def deliveries(parents: list[WebhookEndpoint], ctx: Context, first: int | None = None,
                         after: str | None = None, status: WebhookDeliveryStatus | None = None,
                         ) -> list[Connection[WebhookDelivery] | Exception]:
        allowed = await allowed_partners(ctx, READ_ACTION, {p.partner_pk for p in parents})
        keys = [p.pk for p in parents if p.partner_pk in allowed]
        # a delivery shows its event: only those of events the viewer may read (a payment's: billing readers)
        stmt = select(DeliveryRow).where(DeliveryRow.endpoint_id.in_(keys), DeliveryRow.event_id.in_(
            select(EventRecord.id).where(await readable_types(ctx))))
        if status is not None:
            stmt = stmt.where(DeliveryRow.status == status.value)
        pages = await paginate_grouped(
            ctx, stmt, entity=DeliveryRow, sort=[SortKey(DeliveryRow.id, descending=True)],
            page=PageArgs(first=first, after=after), to_node=WebhookDelivery.from_row,
            group_by=DeliveryRow.endpoint_id, group_keys=keys) if keys else {}
        return [pages.get(p.pk) or refusal(ctx, READ_ACTION) for p in parents]


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    secret: str | None = strawberry.field(default=None, description=(
        "The signing secret (`whsec_...`): returned by createWebhookEndpoint and rotateWebhookSecret only, "
        "never again. Verify each delivery's `webhook-signature` with it."))
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DeleteWebhookEndpointPayload:
    deleted_endpoint_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@extends(Partner)
class PartnerWebhookFields:
    @batch_field(description="The partner's webhook endpoints, newest first.")
    @staticmethod
    async def webhook_endpoints(parents: list[Partner], ctx: Context, first: int | None = None,
                                after: str | None = None) -> list[Connection[WebhookEndpoint] | Exception]:
        allowed = await allowed_partners(ctx, READ_ACTION, [p.pk for p in parents])
        keys = [p.pk for p in parents if p.pk in allowed]
        pages = await paginate_grouped(
            ctx, select(EndpointRow).where(EndpointRow.partner_id.in_(keys)), entity=EndpointRow,
            sort=[SortKey(EndpointRow.id, descending=True)], page=PageArgs(first=first, after=after),
            to_node=WebhookEndpoint.from_row, group_by=EndpointRow.partner_id, group_keys=keys,
        ) if keys else {}
        return [pages.get(p.pk) or refusal(ctx, READ_ACTION) for p in parents]


async def visible_endpoints(ctx: Context, pks: list[int]) -> list[WebhookEndpoint | None]:
    ctx.require_user()
    rows = (await ctx.session.scalars(select(EndpointRow).where(EndpointRow.id.in_(pks)))).all()
    allowed = await allowed_partners(ctx, READ_ACTION, {row.partner_id for row in rows})
    by_pk = {row.id: WebhookEndpoint.from_row(row) for row in rows if row.partner_id in allowed}
    return [by_pk.get(pk) for pk in pks]


async def visible_deliveries(ctx: Context, pks: list[int]) -> list[WebhookDelivery | None]:
    ctx.require_user()
    rows = (await ctx.session.execute(
        select(DeliveryRow, EndpointRow.partner_id).join(EndpointRow, EndpointRow.id == DeliveryRow.endpoint_id)
        .where(DeliveryRow.id.in_(pks)))).all()
    allowed = await allowed_partners(ctx, READ_ACTION, {partner_id for _, partner_id in rows})
    shown = [row for row, partner_id in rows if partner_id in allowed]
    events = await visible_events(ctx, [row.event_id for row in shown])  # a delivery shows its event
    by_pk = {row.id: WebhookDelivery.from_row(row) for row, event in zip(shown, events, strict=True) if event is not None}
    return [by_pk.get(pk) for pk in pks]
