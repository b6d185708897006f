"""Webhook deliveries to a real HTTP receiver on loopback: retries with backoff, Standard Webhooks signatures
verified with the reference library, a stable webhook-id, rotation, disabling, redelivery, DNS rebinding."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from gateway.db import utcnow
from gateway.models import Notification
from gateway.relay import decode_pk, encode_id
from gateway.testing import run_job, run_query
from schema import models
from schema.testing import World
from schema.webhooks.delivery import BACKOFF, retry_delay
from tests.test_webhooks import REDELIVER, ROTATE, UPDATE, create, emit_event

JOB = "webhooks.deliver"
PORTS = itertools.cycle(range(18660, 18670))


class Receiver:
    """A real HTTP server on loopback; each request takes the next scripted answer: a status, or "timeout"."""

    def __init__(self, port: int, script: list[int | str], default: int = 200) -> None:
        self.port, self.script, self.default = port, list(script), default
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.lock:
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    answer = receiver.script.pop(0) if receiver.script else receiver.default
                if answer == "timeout":
                    time.sleep(1.5)
                    answer = 200  # too late: the gateway gave up after GATEWAY_WEBHOOK_TIMEOUT
                self.send_response(int(answer))
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            request_queue_size = 128  # concurrent deliveries connect at once (the default backlog is 5)

        self.server = Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("GATEWAY_WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("GATEWAY_WEBHOOK_TIMEOUT", "0.5")
    started: list[Receiver] = []

    def start(script: list[int | str], default: int = 200) -> Receiver:
        server = Receiver(next(PORTS), script, default)
        server.thread.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.server.shutdown()
        server.server.server_close()


async def endpoint(runtime: Any, world: World, url: str, types: list[str] | None = None) -> tuple[str, str]:
    payload = (await create(runtime, world, url=url, types=types or ["*"])).ok()["createWebhookEndpoint"]
    assert payload["userErrors"] == [], payload
    return payload["endpoint"]["id"], payload["secret"]


async def deliveries(runtime: Any) -> list[models.WebhookDelivery]:
    async with runtime.sessions() as session:
        return list((await session.scalars(select(models.WebhookDelivery).order_by(models.WebhookDelivery.id))).all())


def aware(value: dt.datetime | None) -> dt.datetime:
    assert value is not None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def verify(secret: str, request: tuple[dict[str, str], bytes]) -> Any:
    headers, body = request
    return Webhook(secret).verify(body, headers)


async def test_fails_times_out_then_succeeds_with_backoff_and_verified_signatures(
        runtime: Any, world: World, receiver: Any) -> None:
    server = receiver([500, "timeout", 200])
    _, secret = await endpoint(runtime, world, server.url, types=["subscription.changed"])
    await emit_event(runtime, world)
    [delivery] = await deliveries(runtime)
    assert (delivery.status, delivery.attempts) == ("PENDING", 0)
    t0 = utcnow() + dt.timedelta(seconds=1)

    assert await run_job(runtime, JOB, now=t0) == {"attempts": 1, "retrying": 1}
    [delivery] = await deliveries(runtime)
    assert (delivery.status, delivery.attempts, delivery.response_status, delivery.last_error) == (
        "PENDING", 1, 500, "HTTP 500")
    wait = aware(delivery.next_attempt_at) - t0
    assert dt.timedelta(seconds=4.5) <= wait <= dt.timedelta(seconds=5.5)  # 5 s +-10 % jitter

    assert await run_job(runtime, JOB, now=t0 + dt.timedelta(seconds=3)) == {}  # not due yet
    t1 = t0 + dt.timedelta(seconds=6)
    assert await run_job(runtime, JOB, now=t1) == {"attempts": 1, "retrying": 1}
    [delivery] = await deliveries(runtime)
    assert (delivery.attempts, delivery.response_status, delivery.last_error) == (2, None, "timed out after 0.5 s")
    assert dt.timedelta(minutes=4.5) <= aware(delivery.next_attempt_at) - t1 <= dt.timedelta(minutes=5.5)

    t2 = t1 + dt.timedelta(minutes=6)
    assert await run_job(runtime, JOB, now=t2) == {"attempts": 1, "succeeded": 1}
    [delivery] = await deliveries(runtime)
    assert (delivery.status, delivery.attempts, delivery.response_status, delivery.last_error) == (
        "SUCCEEDED", 3, 200, None)
    assert delivery.next_attempt_at is None and aware(delivery.last_attempt_at) == t2
    assert await run_job(runtime, JOB, now=t2 + dt.timedelta(days=1)) == {}  # nothing is sent twice

    assert len(server.requests) == 3
    ids = {headers["webhook-id"] for headers, _ in server.requests}
    assert ids == {encode_id("WebhookDelivery", delivery.id)}  # the same on every retry: receivers dedupe
    for request in server.requests:
        payload = verify(secret, request)  # the reference library: every signature verifies
        assert payload["type"] == "subscription.changed"
        assert payload["data"]["organization_id"] == world.organizations["acme"]
        assert payload["data"]["license_count"] == 25 and payload["data"]["eventId"].startswith("")
        assert request[0]["content-type"] == "application/json"
        with pytest.raises(WebhookVerificationError):
            Webhook("whsec_" + "A" * 43 + "=").verify(request[1], request[0])  # another secret does not
    headers, body = server.requests[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"25", b"26"), headers)  # nor a changed body

    graph = """query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { deliveries(first: 5, status: SUCCEEDED) {
      nodes { status attempts responseStatus lastError lastAttemptAt event { type data } } } } } }"""
    endpoint_gid = encode_id("WebhookEndpoint", delivery.endpoint_id)
    nodes = (await run_query(runtime, graph, {"id": endpoint_gid}, token=world.tokens["reseller_analyst"])).ok()[
        "node"]["deliveries"]["nodes"]
    assert [(n["status"], n["attempts"], n["responseStatus"], n["event"]["type"]) for n in nodes] == [
        ("SUCCEEDED", 3, 200, "subscription.changed")]


def test_the_retry_schedule() -> None:
    assert [d.total_seconds() for d in BACKOFF] == [5, 300, 1800, 7200, 18000, 36000, 36000]
    for attempt, base in enumerate(BACKOFF, start=1):
        assert base * 0.9 <= retry_delay(attempt) <= base * 1.1
    assert retry_delay(20) <= dt.timedelta(hours=11)


async def test_exhausted_retries_fail_then_disable_the_endpoint_and_mail_the_admins(
        runtime: Any, world: World, receiver: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_WEBHOOK_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("GATEWAY_WEBHOOK_DISABLE_AFTER", "2")
    server = receiver([], default=503)
    endpoint_gid, _ = await endpoint(runtime, world, server.url)
    await emit_event(runtime, world)
    now = utcnow() + dt.timedelta(seconds=1)
    for _ in range(3):
        await run_job(runtime, JOB, now=now)
        now += dt.timedelta(hours=1)
    first = (await deliveries(runtime))[0]
    assert (first.status, first.attempts, first.response_status, first.next_attempt_at) == ("FAILED", 3, 503, None)
    async with runtime.sessions() as session:
        row = await session.get(models.WebhookEndpoint, decode_pk(endpoint_gid, "WebhookEndpoint"))
        assert row is not None and (row.enabled, row.consecutive_failures) == (True, 1)
        assert await session.scalar(select(Notification.id)) is None

    await emit_event(runtime, world)
    for _ in range(3):
        await run_job(runtime, JOB, now=now)
        now += dt.timedelta(hours=1)
    async with runtime.sessions() as session:
        row = await session.get(models.WebhookEndpoint, decode_pk(endpoint_gid, "WebhookEndpoint"))
        mails = (await session.scalars(select(Notification))).all()
    assert row is not None and row.enabled is False and "2 deliveries in a row failed" in (row.disabled_reason or "")
    assert [(m.to, m.template) for m in mails] == [("admin@resell.example", "webhook_endpoint_disabled")]
    assert server.url in mails[0].body and "whsec_" not in mails[0].body
    assert len(server.requests) == 6

    await emit_event(runtime, world)  # a disabled endpoint gets no new delivery
    assert len(await deliveries(runtime)) == 2
    read = (await run_query(runtime, "query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { enabled "
                                     "disabledReason } } }", {"id": endpoint_gid},
                            token=world.tokens["reseller_admin"])).ok()["node"]
    assert read["enabled"] is False and read["disabledReason"]

    refused = await run_query(runtime, REDELIVER, {"input": {"deliveryId": encode_id("WebhookDelivery", first.id)}},
                              token=world.tokens["reseller_admin"])
    assert refused.ok()["redeliverWebhook"]["userErrors"][0]["code"] == "ENDPOINT_DISABLED"
    enabled = await run_query(runtime, UPDATE, {"input": {"endpointId": endpoint_gid, "enabled": True}},
                              token=world.tokens["reseller_admin"])
    assert enabled.ok()["updateWebhookEndpoint"]["endpoint"] == {
        "id": endpoint_gid, "url": server.url, "eventTypes": ["*"], "enabled": True, "disabledReason": None}
    async with runtime.sessions() as session:
        row = await session.get(models.WebhookEndpoint, decode_pk(endpoint_gid, "WebhookEndpoint"))
    assert row is not None and row.consecutive_failures == 0


async def test_redeliver_sends_again_with_the_same_webhook_id(runtime: Any, world: World, receiver: Any) -> None:
    server = receiver([200, 200])
    _, secret = await endpoint(runtime, world, server.url)
    await emit_event(runtime, world)
    now = utcnow() + dt.timedelta(seconds=1)
    await run_job(runtime, JOB, now=now)
    [delivery] = await deliveries(runtime)
    assert (delivery.status, delivery.attempts) == ("SUCCEEDED", 1)
    gid = encode_id("WebhookDelivery", delivery.id)
    result = await run_query(runtime, REDELIVER, {"input": {"deliveryId": gid}}, token=world.tokens["reseller_admin"])
    assert result.ok()["redeliverWebhook"] == {"delivery": {"id": gid, "status": "PENDING", "attempts": 0},
                                               "userErrors": []}
    assert await run_job(runtime, JOB, now=now + dt.timedelta(seconds=5)) == {"attempts": 1, "succeeded": 1}
    [delivery] = await deliveries(runtime)
    assert (delivery.status, delivery.attempts) == ("SUCCEEDED", 1)
    assert [h["webhook-id"] for h, _ in server.requests] == [gid, gid]
    assert verify(secret, server.requests[0]) == verify(secret, server.requests[1])


async def test_rotation_signs_with_both_secrets_for_a_day(runtime: Any, world: World, receiver: Any) -> None:
    server = receiver([])
    endpoint_gid, old = await endpoint(runtime, world, server.url)
    new = (await run_query(runtime, ROTATE, {"input": {"endpointId": endpoint_gid}},
                           token=world.tokens["reseller_admin"])).ok()["rotateWebhookSecret"]["secret"]
    assert new.startswith("whsec_") and new != old
    await emit_event(runtime, world)
    await run_job(runtime, JOB, now=utcnow() + dt.timedelta(seconds=1))
    headers, _ = server.requests[0]
    assert len(headers["webhook-signature"].split(" ")) == 2 and all(
        s.startswith("v1,") for s in headers["webhook-signature"].split(" "))
    assert verify(new, server.requests[0]) and verify(old, server.requests[0])  # receivers switch without loss

    await emit_event(runtime, world)
    await run_job(runtime, JOB, now=utcnow() + dt.timedelta(hours=25))  # the grace period is over
    headers, _ = server.requests[1]
    assert len(headers["webhook-signature"].split(" ")) == 1
    assert verify(new, server.requests[1])
    with pytest.raises(WebhookVerificationError):
        verify(old, server.requests[1])


async def test_delivery_rechecks_the_address_against_dns_rebinding(
        runtime: Any, world: World, receiver: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server = receiver([])
    await endpoint(runtime, world, f"http://localhost:{server.port}/hooks")  # allowed while ALLOW_PRIVATE=1
    await emit_event(runtime, world)
    monkeypatch.setenv("GATEWAY_WEBHOOK_ALLOW_PRIVATE", "0")  # as if the name now resolved to loopback
    assert await run_job(runtime, JOB, now=utcnow() + dt.timedelta(seconds=1)) == {"attempts": 1, "retrying": 1}
    [delivery] = await deliveries(runtime)
    assert delivery.response_status is None and "loopback" in (delivery.last_error or "")
    assert server.requests == []  # never connected


async def test_redirects_are_not_followed(runtime: Any, world: World, receiver: Any) -> None:
    server = receiver([302])
    await endpoint(runtime, world, server.url)
    await emit_event(runtime, world)
    await run_job(runtime, JOB, now=utcnow() + dt.timedelta(seconds=1))
    [delivery] = await deliveries(runtime)
    assert (delivery.status, delivery.response_status) == ("PENDING", 302)
    assert delivery.last_error == "HTTP 302 (redirects are not followed)" and len(server.requests) == 1


async def test_a_crash_after_the_commit_loses_nothing(runtime: Any, world: World, receiver: Any) -> None:
    """The delivery row commits with the event: a process that dies before any job ran (no nudge, no worker)
    leaves it PENDING, and the periodic sweep of a later process sends it."""
    server = receiver([])
    await endpoint(runtime, world, server.url)
    await emit_event(runtime, world)  # committed; nothing ran after the commit
    [delivery] = await deliveries(runtime)
    assert delivery.status == "PENDING"
    # a worker that claimed it and died mid-send: the lease ends and a later sweep sends it again
    later = utcnow() + dt.timedelta(seconds=1)
    async with runtime.sessions() as session, session.begin():
        row = await session.get(models.WebhookDelivery, delivery.id)
        assert row is not None
        row.attempts, row.last_attempt_at, row.next_attempt_at = 1, later, later + dt.timedelta(minutes=5)
    assert await run_job(runtime, JOB, now=later + dt.timedelta(minutes=1)) == {}  # leased
    assert await run_job(runtime, JOB, now=later + dt.timedelta(minutes=6)) == {"attempts": 1, "succeeded": 1}
    assert len(server.requests) == 1


async def test_two_concurrent_runs_never_send_one_delivery_twice(runtime: Any, world: World, receiver: Any,
                                                                 backend: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers sweeping at once (PostgreSQL: FOR UPDATE SKIP LOCKED) split the deliveries between them."""
    if backend != "postgres":
        pytest.skip("SQLite runs the jobs in one process, one run at a time")
    monkeypatch.setenv("GATEWAY_WEBHOOK_BATCH", "5")
    server = receiver([])
    await endpoint(runtime, world, server.url)
    for _ in range(30):
        await emit_event(runtime, world)
    now = utcnow() + dt.timedelta(seconds=1)
    first, second = await asyncio.gather(run_job(runtime, JOB, now=now), run_job(runtime, JOB, now=now))
    assert first["succeeded"] + second["succeeded"] == 30
    ids = [headers["webhook-id"] for headers, _ in server.requests]
    assert len(ids) == 30 and len(set(ids)) == 30
    assert {d.status for d in await deliveries(runtime)} == {"SUCCEEDED"}
