"""Webhook delivery against hostile receivers and addresses: a receiver that answers byte by byte never holds a
delivery past its deadline (the lease), and IPv6 forms that carry an IPv4 address are judged by that address."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.db import utcnow
from gateway.testing import run_job
from schema.testing import World
from schema.webhooks.urls import refused_address
from tests.test_webhooks import emit_event
from tests.test_webhooks_delivery import deliveries, endpoint

JOB = "webhooks.deliver"
PORT = 18690


class Trickler:
    """Reads the request, then sends a 200 answer one byte every ``gap`` seconds: each read is quick, the whole
    answer is slow (a receiver, or a man in the middle, holding the gateway's worker)."""

    def __init__(self, port: int, gap: float) -> None:
        self.gap, self.stop = gap, threading.Event()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            try:
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok":
                    if self.stop.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(self.gap)
            except OSError:
                return


@pytest.fixture
def trickler(monkeypatch: pytest.MonkeyPatch) -> Iterator[Trickler]:
    monkeypatch.setenv("GATEWAY_WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("GATEWAY_WEBHOOK_TIMEOUT", "0.5")
    server = Trickler(PORT, gap=0.2)  # 50 bytes: 10 s in all, each read within 0.2 s
    yield server
    server.stop.set()
    server.thread.join()
    server.sock.close()


async def test_a_trickling_receiver_times_out_at_the_total_deadline(runtime: Any, world: World,
                                                                   trickler: Trickler) -> None:
    await endpoint(runtime, world, f"http://127.0.0.1:{PORT}/hooks")
    await emit_event(runtime, world)
    started = time.monotonic()
    counts = await asyncio.wait_for(run_job(runtime, JOB, now=utcnow() + dt.timedelta(seconds=1)), timeout=30)
    elapsed = time.monotonic() - started
    assert counts == {"attempts": 1, "retrying": 1}
    assert elapsed < 5, f"the delivery took {elapsed:.1f} s: a slow receiver holds the worker past any deadline"
    [delivery] = await deliveries(runtime)
    assert delivery.status == "PENDING" and delivery.response_status is None
    assert (delivery.last_error or "").startswith("timed out")


@pytest.mark.parametrize("address", [
    "64:ff9b::7f00:1",        # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",         # NAT64 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",     # NAT64 of the metadata service
    "2002:7f00:1::1",         # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",      # 6to4 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1 (obfuscated)
    "::ffff:127.0.0.1", "::127.0.0.1", "::1", "fe80::1", "fc00::1",
])
def test_ipv6_forms_of_private_ipv4_addresses_are_refused(address: str) -> None:
    assert refused_address(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["2002:808:808::1", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_stay_allowed(address: str) -> None:
    assert refused_address(ipaddress.ip_address(address)) is None


async def test_redeliver_does_not_show_an_event_its_caller_may_no_longer_read(runtime: Any, world: World) -> None:
    """A payment's delivery of an organization the partner no longer manages: the partner's admin may still send
    it again to its own endpoint (webhook.manage), but the mutation's payload must not show the payment's
    details (organization.read_billing), as Partner.webhookEndpoints and node(id:) do not."""
    from decimal import Decimal

    from sqlalchemy import delete, select, update

    from gateway.events import emit
    from gateway.relay import encode_id
    from gateway.testing import run_query
    from schema import models
    from schema.billing.events import PaymentRecorded
    from tests.test_webhooks import endpoint_id

    await endpoint_id(runtime, world, types=["payment.recorded"])
    acme = world.organizations["acme"]
    async with runtime.context(token=world.tokens["platform_admin"]) as ctx, ctx.transaction():
        await emit(ctx, PaymentRecorded(payment_id=1, organization_id=acme, amount=Decimal("40.00"), currency="USD",
                                        card_owner="CUSTOMER_CARD"))
    async with runtime.sessions() as session, session.begin():
        [delivery] = (await session.scalars(select(models.WebhookDelivery.id))).all()
        await session.execute(delete(models.PartnerMapping).where(models.PartnerMapping.organization_id == acme))
        await session.execute(delete(models.PartnerAccess).where(models.PartnerAccess.organization_id == acme))
        await session.execute(update(models.Organization).where(models.Organization.id == acme).values(partner_id=None))
    query = """mutation($input: RedeliverWebhookInput!) { redeliverWebhook(input: $input) {
      delivery { id status event { type data } } userErrors { code } } }"""
    result = await run_query(runtime, query, {"input": {"deliveryId": encode_id("WebhookDelivery", delivery)}},
                             token=world.tokens["reseller_admin"])
    assert "40.00" not in str(result.data), result.data
