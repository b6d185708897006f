"""Two concurrent changes of one subscription on PostgreSQL: the row lock serializes them, nothing is lost."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.db import utcnow
from gateway.testing import run_query
from schema import models
from schema.catalog.service import sync_catalog
from schema.testing import build_world, declared_catalogs

CHANGE = """mutation($input: ChangeSubscriptionInput!) { changeSubscription(input: $input) {
  subscription { licenseCount storageGb } userErrors { code message } } }"""


@pytest.fixture
def backend_is_postgres(runtime: Any) -> None:
    if runtime.settings.is_sqlite:
        pytest.skip("row locks are a PostgreSQL matter; SQLite serializes writers")


async def test_concurrent_changes_do_not_lose_an_update(runtime: Any, backend_is_postgres: None) -> None:
    world = await build_world(runtime)
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        await sync_catalog(session, declared_catalogs())  # every installed plugin's products
        await session.execute(update(models.Subscription).values(
            current_period_start=now - dt.timedelta(days=15), current_period_end=now + dt.timedelta(days=15)))
    token = world.tokens["reseller_admin"]
    sub = world.subscription_id("acme_mail")
    for round_ in range(3):
        licenses, storage = 11 + round_, 20 + round_
        results = await asyncio.gather(
            run_query(runtime, CHANGE, {"input": {"subscriptionId": sub, "licenseCount": licenses,
                                                  "idempotencyKey": f"lic-{round_}"}}, token=token),
            run_query(runtime, CHANGE, {"input": {"subscriptionId": sub, "storageGb": storage,
                                                  "idempotencyKey": f"gb-{round_}"}}, token=token),
        )
        for result in results:
            assert result.ok()["changeSubscription"]["userErrors"] == []
    async with runtime.sessions() as session:
        row = await session.get(models.Subscription, world.subscriptions["acme_mail"])
        changes = (await session.scalars(select(models.SubscriptionChange).order_by(models.SubscriptionChange.id))).all()
        lines = (await session.scalars(select(models.InvoiceLine))).all()
    assert (row.license_count, row.storage_gb, row.version) == (13, 22, 7)
    # each change started from what the previous one left: the history is a chain
    for before, after in itertools.pairwise(changes):
        assert after.from_licenses == before.to_licenses
        assert after.details["storageGb"]["from"] == before.details["storageGb"]["to"]
    # billed exactly once per step: 3 licenses and 17 GB above the old storage, over half a period
    licenses_total = sum(line.amount for line in lines if "license" in line.description)
    storage_total = sum(line.amount for line in lines if "storage" in line.description)
    assert licenses_total == sum(Decimal(str(p)) for p in ("2.00", "2.00", "2.00"))  # 4.00 × 1 × 15/30 each
    assert storage_total > 0 and len(lines) == 6
