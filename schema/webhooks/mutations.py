"""createWebhookEndpoint, updateWebhookEndpoint, deleteWebhookEndpoint, rotateWebhookSecret, redeliverWebhook.

Each by-ID mutation loads the object's partner (NOT_FOUND when no object has that ID), authorizes
``webhook.manage`` on it (FORBIDDEN), then applies the rules (userErrors) and audits, in one transaction.
"""

from __future__ import annotations

import strawberry

from gateway.composition import Mutation, extends
from gateway.context import Context, run_mutation
from gateway.relay import decode_pk
from schema.access import authorize_partner
from schema.webhooks import service
from schema.webhooks.types import (
    DeleteWebhookEndpointPayload,
    WebhookDelivery,
    WebhookDeliveryPayload,
    WebhookEndpoint,
    WebhookEndpointPayload,
)

MANAGE = "webhook.manage"


@strawberry.input
class CreateWebhookEndpointInput:
    partner_id: strawberry.ID
    url: str = strawberry.field(description="An https URL of a public host (see the README's SSRF rule).")
    event_types: list[str] = strawberry.field(description="Event types to send: names, `prefix.*`, or `*` for all.")


@strawberry.input
class UpdateWebhookEndpointInput:
    endpoint_id: strawberry.ID
    url: str | None = None
    event_types: list[str] | None = None
    enabled: bool | None = strawberry.field(default=None, description=(
        "false stops deliveries (pending ones wait); true resumes them and clears the failure count."))


@strawberry.input
class WebhookEndpointIdInput:
    endpoint_id: strawberry.ID


@strawberry.input
class RedeliverWebhookInput:
    delivery_id: strawberry.ID


@extends(Mutation)
class WebhookMutations:
    @strawberry.mutation(description="Add a webhook endpoint for a partner (its admins); returns the signing secret, "
                                     "shown this once.")
    async def create_webhook_endpoint(self, info: strawberry.Info[Context, None],
                                      input: CreateWebhookEndpointInput) -> WebhookEndpointPayload:
        ctx: Context = info.context
        partner_id = decode_pk(input.partner_id, "Partner")

        async def body() -> WebhookEndpointPayload:
            decision = await authorize_partner(ctx, MANAGE, partner_id)
            row, secret = await service.create_endpoint(ctx, decision, partner_id, url=input.url,
                                                        event_types=input.event_types)
            return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(row), secret=secret)

        return await run_mutation(ctx, WebhookEndpointPayload, body)

    @strawberry.mutation(description="Change an endpoint's URL, event types or enabled flag.")
    async def update_webhook_endpoint(self, info: strawberry.Info[Context, None],
                                      input: UpdateWebhookEndpointInput) -> WebhookEndpointPayload:
        ctx: Context = info.context
        endpoint_id = decode_pk(input.endpoint_id, "WebhookEndpoint")

        async def body() -> WebhookEndpointPayload:
            decision = await authorize_partner(ctx, MANAGE, await service.endpoint_partner(ctx, endpoint_id))
            row = await service.update_endpoint(ctx, decision, endpoint_id, url=input.url,
                                                event_types=input.event_types, enabled=input.enabled)
            return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(row))

        return await run_mutation(ctx, WebhookEndpointPayload, body)

    @strawberry.mutation(description="Delete an endpoint and its delivery log.")
    async def delete_webhook_endpoint(self, info: strawberry.Info[Context, None],
                                      input: WebhookEndpointIdInput) -> DeleteWebhookEndpointPayload:
        ctx: Context = info.context
        endpoint_id = decode_pk(input.endpoint_id, "WebhookEndpoint")

        async def body() -> DeleteWebhookEndpointPayload:
            decision = await authorize_partner(ctx, MANAGE, await service.endpoint_partner(ctx, endpoint_id))
            await service.delete_endpoint(ctx, decision, endpoint_id)
            return DeleteWebhookEndpointPayload(deleted_endpoint_id=input.endpoint_id)

        return await run_mutation(ctx, DeleteWebhookEndpointPayload, body)

    @strawberry.mutation(description="A new signing secret, shown this once; the previous one keeps signing beside "
                                     "it for 24 hours, so receivers switch without losing a delivery.")
    async def rotate_webhook_secret(self, info: strawberry.Info[Context, None],
                                    input: WebhookEndpointIdInput) -> WebhookEndpointPayload:
        ctx: Context = info.context
        endpoint_id = decode_pk(input.endpoint_id, "WebhookEndpoint")

        async def body() -> WebhookEndpointPayload:
            decision = await authorize_partner(ctx, MANAGE, await service.endpoint_partner(ctx, endpoint_id))
            row, secret = await service.rotate_secret(ctx, decision, endpoint_id)
            return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(row), secret=secret)

        return await run_mutation(ctx, WebhookEndpointPayload, body)

    @strawberry.mutation(description="Send a delivery again now, with a fresh retry schedule (same webhook-id).")
    async def redeliver_webhook(self, info: strawberry.Info[Context, None],
                                input: RedeliverWebhookInput) -> WebhookDeliveryPayload:
        ctx: Context = info.context
        delivery_id = decode_pk(input.delivery_id, "WebhookDelivery")

        async def body() -> WebhookDeliveryPayload:
            decision = await authorize_partner(ctx, MANAGE, await service.delivery_partner(ctx, delivery_id))
            row = await service.redeliver(ctx, decision, delivery_id)
            return WebhookDeliveryPayload(delivery=WebhookDelivery.from_row(row))

        return await run_mutation(ctx, WebhookDeliveryPayload, body)
