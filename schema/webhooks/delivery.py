"""Job ``webhooks.deliver``: send the due deliveries, signed per Standard Webhooks, and schedule retries.

A run claims due deliveries in a short transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two
workers never claim one delivery; each claim counts the attempt and leases the row for
``LEASE``), sends them concurrently outside any transaction, then records the outcomes. A worker that
dies mid-send leaves the row leased: it is due again when the lease ends (at least once, as
webhooks are; the ``webhook-id`` is the same on every attempt so receivers drop duplicates).

Retries (after attempt 1, 2, ...): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each +-10 % jitter;
after ``GATEWAY_WEBHOOK_MAX_ATTEMPTS`` (8) the delivery is FAILED. ``GATEWAY_WEBHOOK_DISABLE_AFTER``
(5) FAILED deliveries in a row disable the endpoint and mail the partner's admins.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from collections import Counter
from dataclasses import dataclass

import httpcore
import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from gateway import tracing
from gateway.db import utcnow
from gateway.jobs import JobContext, JobCounts
from gateway.models import User
from gateway.outbox import enqueue
from gateway.relay import encode_id
from gateway.settings import Settings
from schema.models import EventRecord, Partner, PartnerMember, WebhookDelivery, WebhookEndpoint
from schema.webhooks.service import signing_secrets
from schema.webhooks.settings import WebhookSettings, webhook_settings
from schema.webhooks.urls import CheckedBackend

BACKOFF = (dt.timedelta(seconds=5), dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2),
           dt.timedelta(hours=5), dt.timedelta(hours=10), dt.timedelta(hours=10))
JITTER = 0.1
LEASE = dt.timedelta(minutes=5)  # longer than any send (the timeout is at most 60 s)
MAX_ERROR = 300
USER_AGENT = "PartnerGateway-Webhooks/1"


def retry_delay(attempt: int, rng: random.Random | None = None) -> dt.timedelta:
    """The wait after failed attempt ``attempt`` (1-based), with jitter."""
    base = BACKOFF[min(attempt, len(BACKOFF)) - 1]
    return base * (1 + (rng or random).uniform(-JITTER, JITTER))


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    endpoint_id: int
    attempt: int
    url: str
    secrets: tuple[str, ...]
    message_id: str
    payload: str
    trace_context: str | None = None  # the event's traceparent: the delivery's span continues that trace


@dataclass(frozen=True)
class Outcome:
    claimed: Claimed
    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def message_id(delivery_id: int) -> str:
    """``webhook-id``: the delivery's node ID, the same on every attempt and redelivery."""
    return encode_id("WebhookDelivery", delivery_id)


def payload_of(record: EventRecord) -> str:
    """The body: ``{type, timestamp, data}`` per Standard Webhooks; ``data`` is the event's JSON and its ID."""
    occurred = record.occurred_at if record.occurred_at.tzinfo else record.occurred_at.replace(tzinfo=dt.UTC)
    data = {**record.data, "eventId": encode_id("Event", record.id)}
    return json.dumps({"type": record.type, "timestamp": occurred.isoformat(), "data": data},
                      separators=(",", ":"), sort_keys=True, default=str)


async def claim(session: AsyncSession, now: dt.datetime, limit: int) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries of enabled endpoints (one transaction)."""
    async with session.begin():
        ids = list((await session.scalars(
            select(WebhookDelivery.id).join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.status == "PENDING", WebhookDelivery.next_attempt_at <= now,
                   WebhookEndpoint.enabled.is_(True))
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)
            .with_for_update(skip_locked=True, of=WebhookDelivery))).all())
        if not ids:
            return []
        await session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(
            attempts=WebhookDelivery.attempts + 1, last_attempt_at=now, next_attempt_at=now + LEASE))
        rows = (await session.execute(
            select(WebhookDelivery, WebhookEndpoint, EventRecord)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(EventRecord, EventRecord.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id.in_(ids)).order_by(WebhookDelivery.id)
            .execution_options(populate_existing=True))).all()
        return [Claimed(delivery_id=d.id, endpoint_id=e.id, attempt=d.attempts, url=e.url,
                        secrets=tuple(signing_secrets(e, now)), message_id=message_id(d.id), payload=payload_of(r),
                        trace_context=r.trace_context)
                for d, e, r in rows]


def signed_headers(claimed: Claimed, sent_at: dt.datetime) -> dict[str, str]:
    """Standard Webhooks headers; the signature covers ``id.timestamp.body``, once per signing secret."""
    signature = " ".join(Webhook(secret).sign(claimed.message_id, sent_at, claimed.payload)
                         for secret in claimed.secrets)
    return {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": claimed.message_id,
            "webhook-timestamp": str(int(sent_at.timestamp())), "webhook-signature": signature}


async def send(client: httpx.AsyncClient, claimed: Claimed, settings: WebhookSettings) -> Outcome:
    """POST one delivery; the receiver's body is not read (only its status counts), redirects are not followed.

    ``settings.timeout`` bounds the whole attempt (name resolution, connection, request and the answer's
    head), not only each read: a receiver answering byte by byte would otherwise hold it past its lease."""
    headers = tracing.inject_headers(signed_headers(claimed, utcnow()))  # the wall clock: receivers check it
    try:
        async with asyncio.timeout(settings.timeout):
            async with client.stream("POST", claimed.url, content=claimed.payload.encode(),
                                     headers=headers) as response:
                status = response.status_code
    except (httpx.TimeoutException, TimeoutError):
        return Outcome(claimed, None, f"timed out after {settings.timeout:g} s")
    except httpx.HTTPError as error:
        return Outcome(claimed, None, f"{type(error).__name__}: {error}"[:MAX_ERROR])
    if 200 <= status < 300:
        return Outcome(claimed, status, None)
    detail = " (redirects are not followed)" if 300 <= status < 400 else ""
    return Outcome(claimed, status, f"HTTP {status}{detail}")


async def record(session: AsyncSession, outcomes: list[Outcome], now: dt.datetime, settings: WebhookSettings,
                 rng: random.Random, host_settings: Settings) -> Counter[str]:
    """Write the outcomes (one transaction); a delivery changed since its claim (redelivered) is left alone."""
    counts: Counter[str] = Counter()
    answered: set[int] = set()
    async with session.begin():
        for outcome in outcomes:
            claimed = outcome.claimed
            exhausted = not outcome.ok and claimed.attempt >= settings.max_attempts
            values: dict[str, object]
            if outcome.ok:
                values = {"status": "SUCCEEDED", "next_attempt_at": None}
                counts["succeeded"] += 1
            elif exhausted:
                values = {"status": "FAILED", "next_attempt_at": None}
                counts["failed"] += 1
            else:
                values = {"next_attempt_at": now + retry_delay(claimed.attempt, rng)}
                counts["retrying"] += 1
            result = await session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == claimed.delivery_id,
                                              WebhookDelivery.attempts == claimed.attempt,
                                              WebhookDelivery.status == "PENDING")
                .values(response_status=outcome.status, last_error=outcome.error, **values))
            if not getattr(result, "rowcount", 1):
                continue
            if outcome.ok:
                answered.add(claimed.endpoint_id)
            elif exhausted and await endpoint_failed(session, claimed.endpoint_id, settings, host_settings):
                counts["endpoints_disabled"] += 1
        if answered:  # a success ends an endpoint's run of failed deliveries
            await session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id.in_(answered),
                                                                WebhookEndpoint.consecutive_failures != 0)
                                  .values(consecutive_failures=0))
    return counts


async def endpoint_failed(session: AsyncSession, endpoint_id: int, settings: WebhookSettings,
                          settings_of_host: Settings) -> bool:
    """Count one more FAILED delivery; at the limit disable the endpoint and mail the partner's admins."""
    endpoint = await session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
                                    .with_for_update())
    if endpoint is None:
        return False
    endpoint.consecutive_failures += 1
    if not endpoint.enabled or endpoint.consecutive_failures < settings.disable_after:
        return False
    endpoint.enabled = False
    endpoint.disabled_reason = (f"{endpoint.consecutive_failures} deliveries in a row failed after every retry; "
                                "enable the endpoint again once it answers 2xx")
    partner = await session.get(Partner, endpoint.partner_id)
    admins = (await session.scalars(
        select(User.email).join(PartnerMember, PartnerMember.user_id == User.id)
        .where(PartnerMember.partner_id == endpoint.partner_id, PartnerMember.role == "PARTNER_ADMIN")
        .order_by(User.email))).all()
    for email in admins:  # the outbox: sent by job outbox.deliver after this transaction commits
        enqueue(session, settings_of_host, to=email, subject="A webhook endpoint was disabled",
                template="webhook_endpoint_disabled",
                body=(f"The webhook endpoint {endpoint.url} of {partner.name if partner else 'your partner account'} "
                      f"was disabled: {endpoint.disabled_reason}. Events are no longer sent to it. Fix the receiver, "
                      "then enable the endpoint (updateWebhookEndpoint with enabled: true); pending deliveries "
                      "resume and failed ones can be sent again with redeliverWebhook."))
    return True


def client_for(settings: WebhookSettings) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(retries=0)
    transport._pool = httpcore_pool(settings)  # httpx takes no network backend: its pool, with ours
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(settings.timeout), follow_redirects=False,
                             trust_env=False)


def httpcore_pool(settings: WebhookSettings) -> httpcore.AsyncConnectionPool:
    return httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(), max_connections=100,
                                        network_backend=CheckedBackend(allow_private=settings.allow_private))


async def deliver_due(job: JobContext) -> JobCounts:
    """The job body: claim, send and record batches of due deliveries until none is due at ``job.now``."""
    settings = webhook_settings()
    rng = random.Random()
    counts: Counter[str] = Counter()
    async with client_for(settings) as client:
        while True:
            async with job.runtime.sessions() as session:
                claimed = await claim(session, job.now, settings.batch)
            if not claimed:
                break
            outcomes = list(await asyncio.gather(*(tracing.run_in_span(
                send(client, c, settings), "webhook delivery", parent=c.trace_context, kind="client",
                attributes={"webhook.delivery.attempt": c.attempt}, result_attributes=lambda o: {
                    "http.response.status_code": o.status, "error.type": "delivery failed" if not o.ok else None})
                for c in claimed)))
            async with job.runtime.sessions() as session:
                counts.update(await record(session, outcomes, job.now, settings, rng, job.runtime.settings))
            counts["attempts"] += len(claimed)
            if len(claimed) < settings.batch:
                break
    return dict(counts)
