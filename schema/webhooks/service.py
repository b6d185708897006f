"""Webhook endpoints and deliveries: the rules of the mutations, and the deliveries an event creates.

Refusals (userErrors): INVALID_URL, PRIVATE_ADDRESS (``url``), INVALID_EVENT_TYPES (``eventTypes``),
TOO_MANY_ENDPOINTS, ENDPOINT_DISABLED (redeliver to a disabled endpoint). An ID of no endpoint or
delivery is NOT_FOUND.
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
from collections.abc import Iterable, Sequence

from sqlalchemy import func, select

from gateway.context import Context
from gateway.db import utcnow
from gateway.errors import DomainError, NotFound
from gateway.events import event_types
from gateway.jobs import request_job
from gateway.policy import Decision
from gateway.sensitive import find_card_data, random_token
from schema.access import audit
from schema.models import EventRecord, WebhookDelivery, WebhookEndpoint
from schema.webhooks.settings import webhook_settings
from schema.webhooks.urls import check_url

DELIVER_JOB = "webhooks.deliver"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
ROTATION_GRACE = dt.timedelta(hours=24)  # the previous secret keeps signing, beside the new one, this long
MAX_ENDPOINTS = 20  # per partner
MAX_EVENT_TYPES = 100
EVERY_TYPE = "*"


# ---------------------------------------------------------------- secrets
def new_secret() -> str:
    """``whsec_`` + standard base64 of 32 random bytes (the form Standard Webhooks libraries read)."""
    for _ in range(100):
        raw = base64.urlsafe_b64decode(random_token(SECRET_BYTES) + "=" * 4)
        secret = SECRET_PREFIX + base64.b64encode(raw).decode()
        if find_card_data(secret) is None:
            return secret
    raise RuntimeError("no secret free of card-like data in 100 draws")


def signing_secrets(endpoint: WebhookEndpoint, now: dt.datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one during its grace period."""
    secrets = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and _aware(expires) > now:
        secrets.append(endpoint.previous_secret)
    return secrets


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------- event types
def known_event_types() -> set[str]:
    return set(event_types())


def check_event_types(patterns: Sequence[str]) -> list[str]:
    """The patterns, deduplicated: each a known event type, ``"*"`` (every type) or ``"<prefix>.*"``
    matching at least one known type (``"subscription.*"``); INVALID_EVENT_TYPES otherwise."""
    cleaned = list(dict.fromkeys(p.strip() for p in patterns))
    if not cleaned or len(cleaned) > MAX_EVENT_TYPES:
        raise DomainError("INVALID_EVENT_TYPES", f"Give 1 to {MAX_EVENT_TYPES} event types, or \"*\" for every type.",
                          "eventTypes")
    known = known_event_types()
    unknown = [p for p in cleaned if p != EVERY_TYPE and not (
        p in known or (p.endswith(".*") and any(fnmatch.fnmatchcase(name, p) for name in known)))]
    if unknown:
        raise DomainError("INVALID_EVENT_TYPES", f"Unknown event type(s): {', '.join(sorted(unknown))[:200]}. "
                          f"Known: {', '.join(sorted(known))[:600]}.", "eventTypes")
    return cleaned


def matches(patterns: Iterable[str], event_type: str) -> bool:
    return any(p == EVERY_TYPE or p == event_type or (p.endswith(".*") and fnmatch.fnmatchcase(event_type, p))
               for p in patterns)


# ---------------------------------------------------------------- endpoints
async def endpoint_partner(ctx: Context, endpoint_id: int) -> int:
    partner_id: int | None = await ctx.session.scalar(select(WebhookEndpoint.partner_id).where(WebhookEndpoint.id == endpoint_id))
    if partner_id is None:
        raise NotFound("No webhook endpoint has that ID.")
    return partner_id


async def delivery_partner(ctx: Context, delivery_id: int) -> int:
    partner_id: int | None = await ctx.session.scalar(
        select(WebhookEndpoint.partner_id).join(WebhookDelivery, WebhookDelivery.endpoint_id == WebhookEndpoint.id)
        .where(WebhookDelivery.id == delivery_id))
    if partner_id is None:
        raise NotFound("No webhook delivery has that ID.")
    return partner_id


async def _endpoint_for_update(ctx: Context, endpoint_id: int) -> WebhookEndpoint:
    row: WebhookEndpoint | None = await ctx.session.scalar(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).with_for_update())
    if row is None:
        raise NotFound("No webhook endpoint has that ID.")
    return row


async def create_endpoint(ctx: Context, decision: Decision, partner_id: int, *, url: str,
                          event_types: Sequence[str]) -> tuple[WebhookEndpoint, str]:
    """A new enabled endpoint and its secret (returned here only: it is never shown again)."""
    settings = webhook_settings()
    url = await check_url(url, allow_private=settings.allow_private)
    patterns = check_event_types(event_types)
    count = await ctx.session.scalar(select(func.count()).select_from(WebhookEndpoint)
                                     .where(WebhookEndpoint.partner_id == partner_id))
    if (count or 0) >= MAX_ENDPOINTS:
        raise DomainError("TOO_MANY_ENDPOINTS", f"A partner has at most {MAX_ENDPOINTS} webhook endpoints.")
    secret = new_secret()
    row = WebhookEndpoint(partner_id=partner_id, url=url, event_types=patterns, enabled=True, secret=secret,
                          consecutive_failures=0, created_at=utcnow())
    ctx.session.add(row)
    await ctx.session.flush()
    audit(ctx, decision, "webhook.manage", partner_id=partner_id,
          details={"operation": "create", "endpointId": row.id, "url": url, "eventTypes": patterns})
    return row, secret


async def update_endpoint(ctx: Context, decision: Decision, endpoint_id: int, *, url: str | None,
                          event_types: Sequence[str] | None, enabled: bool | None) -> WebhookEndpoint:
    """Change what is given; enabling a disabled endpoint clears its failures (pending deliveries resume)."""
    row = await _endpoint_for_update(ctx, endpoint_id)
    changed: dict[str, object] = {}
    if url is not None:
        row.url = changed["url"] = await check_url(url, allow_private=webhook_settings().allow_private)
    if event_types is not None:
        row.event_types = check_event_types(event_types)
        changed["eventTypes"] = row.event_types
    if enabled is not None:
        if enabled and not row.enabled:
            row.consecutive_failures, row.disabled_reason = 0, None
        row.enabled = changed["enabled"] = enabled
    audit(ctx, decision, "webhook.manage", partner_id=row.partner_id,
          details={"operation": "update", "endpointId": row.id, **changed})
    await ctx.session.flush()
    return row


async def delete_endpoint(ctx: Context, decision: Decision, endpoint_id: int) -> None:
    """Delete the endpoint with its delivery log (pending deliveries are dropped)."""
    row = await _endpoint_for_update(ctx, endpoint_id)
    await ctx.session.delete(row)
    await ctx.session.flush()
    audit(ctx, decision, "webhook.manage", partner_id=row.partner_id,
          details={"operation": "delete", "endpointId": endpoint_id, "url": row.url})


async def rotate_secret(ctx: Context, decision: Decision, endpoint_id: int,
                        now: dt.datetime | None = None) -> tuple[WebhookEndpoint, str]:
    """A new secret; the old one keeps signing beside it for ROTATION_GRACE, so receivers switch without loss."""
    row = await _endpoint_for_update(ctx, endpoint_id)
    secret = new_secret()
    row.previous_secret, row.previous_secret_expires_at = row.secret, (now or utcnow()) + ROTATION_GRACE
    row.secret = secret
    await ctx.session.flush()
    audit(ctx, decision, "webhook.manage", partner_id=row.partner_id,
          details={"operation": "rotate_secret", "endpointId": row.id})
    return row, secret


async def redeliver(ctx: Context, decision: Decision, delivery_id: int,
                    now: dt.datetime | None = None) -> WebhookDelivery:
    """Queue the delivery again, now, with a fresh retry schedule (the same webhook-id: receivers dedupe)."""
    delivery: WebhookDelivery | None = await ctx.session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                                        .with_for_update())
    if delivery is None:
        raise NotFound("No webhook delivery has that ID.")
    endpoint = await ctx.session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        raise DomainError("ENDPOINT_DISABLED", "The endpoint is disabled: enable it first (updateWebhookEndpoint).",
                          "deliveryId")
    delivery.status, delivery.attempts, delivery.next_attempt_at = "PENDING", 0, now or utcnow()
    await ctx.session.flush()
    audit(ctx, decision, "webhook.manage", partner_id=endpoint.partner_id,
          details={"operation": "redeliver", "endpointId": endpoint.id, "deliveryId": delivery.id})
    request_job(ctx, DELIVER_JOB)
    return delivery


# ---------------------------------------------------------------- deliveries of a stored event
async def create_deliveries(ctx: Context, record: EventRecord) -> int:
    """A PENDING delivery of ``record`` for each enabled endpoint of its partner that wants its type, in the
    event's transaction (so a rolled-back change sends nothing and a crash after commit loses nothing)."""
    if record.partner_id is None:
        return 0
    endpoints = (await ctx.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.event_types)
        .where(WebhookEndpoint.partner_id == record.partner_id, WebhookEndpoint.enabled.is_(True)))).all()
    wanted = [row.id for row in endpoints if matches(row.event_types, record.type)]
    if not wanted:
        return 0
    now = utcnow()
    ctx.session.add_all([WebhookDelivery(endpoint_id=pk, event_id=record.id, status="PENDING", attempts=0,
                                         next_attempt_at=now, created_at=now) for pk in wanted])
    await ctx.session.flush()
    request_job(ctx, DELIVER_JOB)
    return len(wanted)

