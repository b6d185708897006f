"""Concurrency on the real PostgreSQL: no oversell, no double renewal (each request has its own context)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select

from gateway.db import utcnow
from gateway.relay import encode_id
from gateway.testing import run_query
from plugins.certificates.models import CertificateInventory
from plugins.certificates.service import add_years
from plugins.certificates.testing import add_subscription, certificate_world, items
from schema.models import InvoiceLine, Payment, RenewalCharge, Subscription


@pytest.fixture(autouse=True)
def postgres_only(backend):
    if backend == "sqlite":
        pytest.skip("SQLite serializes every write transaction, so there is no concurrent update to test; "
                    "these run against PostgreSQL (GATEWAY_TEST_POSTGRES_URL)")


USE = """mutation($input: UseCertificateInventoryInput!) { useCertificateInventory(input: $input) {
           inventoryLine { used } userErrors { code } } }"""


async def test_concurrent_use_never_oversells(runtime):
    world = await certificate_world(runtime)
    sub_id = await add_subscription(runtime, world.organizations["direct"], {"DV": 3})
    variables = {"input": {"subscriptionId": encode_id("ProductSubscription", sub_id), "certificateTypeCode": "DV"}}
    token = world.tokens["direct_super_admin"]
    results = await asyncio.gather(*(run_query(runtime, USE, variables, token=token) for _ in range(10)))
    payloads = [r.ok()["useCertificateInventory"] for r in results]
    succeeded = [p for p in payloads if not p["userErrors"]]
    refused = [p["userErrors"][0]["code"] for p in payloads if p["userErrors"]]
    assert len(succeeded) == 3
    assert sorted(p["inventoryLine"]["used"] for p in succeeded) == [1, 2, 3]
    assert refused == ["NO_INVENTORY_LEFT"] * 7
    async with runtime.sessions() as session:
        row = await session.scalar(select(CertificateInventory).where(CertificateInventory.subscription_id == sub_id))
        assert (row.current, row.used) == (3, 3)


async def test_concurrent_reduction_and_use_keep_used_within_current(runtime):
    world = await certificate_world(runtime)
    token = world.tokens["direct_super_admin"]
    reduce = """mutation($input: AddCertificateInventoryInput!) { addCertificateInventory(input: $input) {
                  userErrors { code } } }"""
    for _ in range(4):
        sub_id = await add_subscription(runtime, world.organizations["direct"], {"DV": 4})
        gid = encode_id("ProductSubscription", sub_id)
        calls = [run_query(runtime, USE, {"input": {"subscriptionId": gid, "certificateTypeCode": "DV"}}, token=token)
                 for _ in range(3)]
        calls.insert(1, run_query(runtime, reduce, {"input": {"subscriptionId": gid, "kind": "CURRENT",
                                                              "items": items([("DV", -3)])}}, token=token))
        results = await asyncio.gather(*calls)
        codes = [[e["code"] for e in next(iter(r.ok().values()))["userErrors"]] for r in results]  # no internal error
        reduced = codes[1] == []
        assert codes[1] in ([], ["CURRENT_BELOW_USED"])
        async with runtime.sessions() as session:
            row = await session.scalar(select(CertificateInventory).where(CertificateInventory.subscription_id == sub_id))
        assert (row.current, row.used) == ((1, 1) if reduced else (4, 3))
        uses = codes[:1] + codes[2:]
        assert sorted(uses) == ([[], ["NO_INVENTORY_LEFT"], ["NO_INVENTORY_LEFT"]] if reduced else [[], [], []])


async def test_concurrent_renewal_runs_renew_once(runtime):
    world = await certificate_world(runtime)
    start = utcnow() - dt.timedelta(days=400)
    subs = [await add_subscription(runtime, world.organizations["direct"], {"DV": 2}, auto_renew=True, now=start)
            for _ in range(3)]
    expiring = await add_subscription(runtime, world.organizations["direct"], {"EV": 1}, auto_renew=False, now=start)
    async with runtime.sessions() as session:
        lines_before = await session.scalar(select(func.count(InvoiceLine.id)))
    as_of = utcnow().replace(microsecond=0).isoformat()
    query = """mutation($input: RenewSubscriptionsInput) { renewSubscriptions(input: $input) {
                 renewed { id } expired { id } userErrors { code } } }"""
    results = await asyncio.gather(*(run_query(runtime, query, {"input": {"asOf": as_of}},
                                               token=world.tokens["platform_admin"]) for _ in range(3)))
    payloads = [r.ok()["renewSubscriptions"] for r in results]
    renewed = sorted(s["id"] for p in payloads for s in p["renewed"])
    expired = [s["id"] for p in payloads for s in p["expired"]]
    assert renewed == sorted(encode_id("ProductSubscription", pk) for pk in subs)
    assert expired == [encode_id("ProductSubscription", expiring)]
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count(InvoiceLine.id))) == lines_before  # renewals are paid, not billed
        charges = (await session.scalars(select(RenewalCharge))).all()
        assert sorted(c.subscription_id for c in charges) == sorted(subs)  # each period charged once
        assert await session.scalar(select(func.count(Payment.id))) == 3
        ends = (await session.scalars(select(Subscription.current_period_end).where(Subscription.id.in_(subs)))).all()
        assert set(ends) == {add_years(add_years(start))}
