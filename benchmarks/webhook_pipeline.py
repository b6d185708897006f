"""Events per second through the webhook pipeline on PostgreSQL: emit -> stored -> delivery -> job -> receiver.

    .venv/bin/python benchmarks/webhook_pipeline.py [--events 2000] [--endpoints 2]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1/gateway_webhooks] [--port 18668]

EMPTIES the database given (drops and creates the gateway's tables). A receiver runs in a separate
process on loopback (a minimal HTTP/1.1 server answering 200, verifying a sample of signatures with
the reference library). Each event is emitted in a transaction of its own, as a change would (stored
as an Event, one delivery row per endpoint, a job request); then one run of ``webhooks.deliver``
sends everything that is due. Printed: events/s of the emitting side, deliveries/s of the job, and
events/s end to end (events / (emit time + delivery time)).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ["GATEWAY_WEBHOOK_ALLOW_PRIVATE"] = "1"  # the receiver is on loopback

from sqlalchemy import func, select  # noqa: E402

from gateway.db import Base, utcnow  # noqa: E402
from gateway.events import emit  # noqa: E402
from gateway.runtime import Runtime  # noqa: E402
from gateway.settings import load_settings  # noqa: E402
from gateway.testing import run_job, run_query  # noqa: E402
from schema import models  # noqa: E402
from schema.subscriptions.events import SubscriptionChanged  # noqa: E402
from schema.testing import build_world  # noqa: E402

CREATE = """mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
  secret userErrors { code message } } }"""


def receive(port: int, count: Any, secrets: list[str], ready: Any) -> None:
    """The receiver process: HTTP/1.1 keep-alive, 200 to every POST, every 100th signature verified."""
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    def verify(body: bytes, headers: dict[str, str]) -> None:
        for secret in secrets:  # one secret per endpoint: one of them signed it
            try:
                Webhook(secret).verify(body, headers)
                return
            except WebhookVerificationError:
                continue
        raise WebhookVerificationError("no endpoint's secret verifies this delivery")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                with count.get_lock():
                    count.value += 1
                    sample = count.value % 100 == 1
                if sample:
                    verify(body, headers)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=512)
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(main())


async def bench(args: argparse.Namespace) -> None:
    runtime = Runtime(load_settings(database_url=args.database_url))
    async with runtime.engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)
    world = await build_world(runtime)
    secrets = []
    for _ in range(args.endpoints):
        result = await run_query(runtime, CREATE, {"input": {
            "partnerId": world.partner_id("reseller"), "url": f"http://127.0.0.1:{args.port}/hooks",
            "eventTypes": ["subscription.*"]}}, token=world.tokens["reseller_admin"])
        payload = result.ok()["createWebhookEndpoint"]
        assert payload["userErrors"] == [], payload
        secrets.append(payload["secret"])

    count = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(target=receive, args=(args.port, count, secrets, ready), daemon=True)
    receiver.start()
    ready.wait(10)
    try:
        acme = world.organizations["acme"]
        started = time.perf_counter()
        async with runtime.context(token=world.tokens["platform_admin"]) as ctx:
            for number in range(args.events):
                async with ctx.transaction():
                    await emit(ctx, SubscriptionChanged(subscription_id=number, organization_id=acme, product_id=1,
                                                        plan_id=1, status="ACTIVE", license_count=number % 50 + 1,
                                                        change_id=number, change_kind="CHANGED"))
        emitted = time.perf_counter() - started
        started = time.perf_counter()
        counts = await run_job(runtime, "webhooks.deliver", now=utcnow() + dt.timedelta(seconds=1))
        delivered = time.perf_counter() - started
        async with runtime.sessions() as session:
            succeeded = await session.scalar(select(func.count()).select_from(models.WebhookDelivery)
                                             .where(models.WebhookDelivery.status == "SUCCEEDED"))
        deliveries = args.events * args.endpoints
        print(f"events {args.events}, endpoints {args.endpoints}, deliveries {deliveries}, "
              f"succeeded {succeeded}, received {count.value}, job counts {counts}")
        print(f"emit -> stored -> delivery rows: {emitted:.2f} s, {args.events / emitted:,.0f} events/s")
        print(f"job webhooks.deliver -> receiver: {delivered:.2f} s, {deliveries / delivered:,.0f} deliveries/s")
        print(f"end to end: {args.events / (emitted + delivered):,.0f} events/s "
              f"({deliveries / (emitted + delivered):,.0f} deliveries/s)")
    finally:
        receiver.terminate()
        await runtime.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=2)
    parser.add_argument("--database-url", default="postgresql+asyncpg://postgres@127.0.0.1/gateway_webhooks")
    parser.add_argument("--port", type=int, default=18668)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
