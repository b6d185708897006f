"""Concurrent consumers and buyers against the real PostgreSQL (each request its own context and session)."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from gateway.testing import run_query
from plugins.desk_im.models import ImCreditTransaction
from plugins.desk_im.tests.world import balance, build_desk_world, count_rows, give_credits, key
from schema import models

MESSAGES = """mutation($input: RecordImMessagesInput!) { recordImMessages(input: $input) {
  account { balance } transaction { id } userErrors { code } } }"""
PURCHASE = """mutation($input: PurchaseImCreditsInput!) { purchaseImCredits(input: $input) {
  account { balance } transaction { id } userErrors { code } } }"""


@pytest.fixture
def postgres_only(runtime):
    if runtime.settings.is_sqlite:
        pytest.skip("SQLite runs one writer at a time, so there is no race to test; the row-level race needs "
                    "PostgreSQL (set GATEWAY_TEST_POSTGRES_URL)")


def outcome(result) -> str:
    if result.errors:
        return f"error:{result.error_codes}"
    payload = next(iter(result.data.values()))
    return payload["userErrors"][0]["code"] if payload["userErrors"] else "ok"


async def test_fifty_concurrent_messages_against_thirty_credits(runtime, postgres_only):
    world = await build_desk_world(runtime)
    org = world.organizations["acme"]
    await give_credits(runtime, org, 30)

    async def one(n: int):
        return await run_query(runtime, MESSAGES, {"input": {
            "organizationId": world.org_id("acme"), "channel": "WHATSAPP", "count": 1,
            "idempotencyKey": key(world, f"c{n}")}}, token=world.tokens["messaging_service"])

    results = await asyncio.gather(*(one(n) for n in range(50)))
    assert Counter(outcome(r) for r in results) == {"ok": 30, "INSUFFICIENT_CREDITS": 20}
    assert await balance(runtime, org) == 0
    assert await count_rows(runtime, ImCreditTransaction, kind="USAGE") == 30
    balances = sorted(r.data["recordImMessages"]["account"]["balance"] for r in results
                      if outcome(r) == "ok")
    assert balances == list(range(30))  # every consumer saw its own step down: no lost update


async def test_the_same_message_key_sent_concurrently_consumes_once(runtime, postgres_only):
    world = await build_desk_world(runtime)
    org = world.organizations["acme"]
    await give_credits(runtime, org, 10)

    async def one():
        return await run_query(runtime, MESSAGES, {"input": {
            "organizationId": world.org_id("acme"), "channel": "WHATSAPP", "count": 3,
            "idempotencyKey": key(world, "same")}}, token=world.tokens["messaging_service"])

    results = await asyncio.gather(*(one() for _ in range(12)))
    assert {outcome(r) for r in results} == {"ok"}
    assert len({r.data["recordImMessages"]["transaction"]["id"] for r in results}) == 1
    assert await balance(runtime, org) == 7
    assert await count_rows(runtime, ImCreditTransaction, kind="USAGE") == 1


async def test_concurrent_purchases_lose_no_credit_and_a_repeated_key_charges_once(runtime, postgres_only):
    world = await build_desk_world(runtime)
    org = world.organizations["acme"]

    async def buy(name: str, credits: int):
        return await run_query(runtime, PURCHASE, {"input": {
            "organizationId": world.org_id("acme"), "credits": credits, "idempotencyKey": key(world, name)}},
            token=world.tokens["reseller_admin"])

    distinct = [buy(f"p{n}", n) for n in range(1, 16)]
    repeated = [buy("twice", 100) for _ in range(5)]
    results = await asyncio.gather(*distinct, *repeated)
    assert {outcome(r) for r in results} == {"ok"}
    assert await balance(runtime, org) == sum(range(1, 16)) + 100
    assert await count_rows(runtime, models.Payment) == 16
    assert await count_rows(runtime, ImCreditTransaction, kind="PURCHASE") == 16
