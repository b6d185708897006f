"""The webhooks part of the core, as a plugin: endpoints, deliveries created with each stored event, and the
job ``webhooks.deliver`` that sends them signed per Standard Webhooks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.context import Context
from gateway.events import DomainEvent
from gateway.hookspecs import hookimpl
from gateway.jobs import JobDefinition
from schema.models import EventRecord
from schema.webhooks.delivery import deliver_due
from schema.webhooks.mutations import WebhookMutations
from schema.webhooks.service import DELIVER_JOB, create_deliveries
from schema.webhooks.settings import webhook_settings
from schema.webhooks.types import (
    PartnerWebhookFields,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    visible_deliveries,
    visible_endpoints,
)

if TYPE_CHECKING:
    from gateway.hookspecs import NodeResolver

webhook_settings()  # read once at import: a bad GATEWAY_WEBHOOK_* value stops the gateway with its name


@hookimpl
def gateway_types() -> list[type]:
    return [WebhookEndpoint, WebhookDelivery, WebhookDeliveryStatus]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [PartnerWebhookFields, WebhookMutations]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"WebhookEndpoint": visible_endpoints, "WebhookDelivery": visible_deliveries}


@hookimpl
async def gateway_event_stored(ctx: Context, event: DomainEvent, record: EventRecord) -> None:
    await create_deliveries(ctx, record)


@hookimpl
def gateway_jobs() -> list[JobDefinition]:
    return [JobDefinition(name=DELIVER_JOB, run=deliver_due, schedule="* * * * *",
                          description="send due webhook deliveries, signed; retry with backoff")]
