"""Two platform admins change the same list price at once (PostgreSQL): the row lock serializes them, so the
price history is a chain (each change's previous amount is the one before's new amount) and ends at the list price."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from gateway.testing import run_query
from schema import models
from schema.testing import build_world

CHANGE_PLAN = """mutation($input: ChangePlanPriceInput!) { changePlanPrice(input: $input) {
  priceChanges { previousAmount { amount } newAmount { amount } } userErrors { code } } }"""


@pytest.fixture
def backend_is_postgres(runtime: Any) -> None:
    if runtime.settings.is_sqlite:
        pytest.skip("row locks are a PostgreSQL matter; SQLite serializes writers")


async def test_concurrent_price_changes_keep_the_history_a_chain(runtime: Any, backend_is_postgres: None) -> None:
    world = await build_world(runtime)
    admin = world.tokens["platform_admin"]
    amounts = ["5.00", "6.00", "7.00", "8.00"]
    results = await asyncio.gather(*(
        run_query(runtime, CHANGE_PLAN, {"input": {"planCode": "MAIL_STANDARD", "pricePerLicense":
                                                   {"amount": amount, "currency": "USD"}, "reason": f"to {amount}"}},
                  token=admin) for amount in amounts))
    for result in results:
        assert result.ok()["changePlanPrice"]["userErrors"] == []
    async with runtime.sessions() as session:
        plan = await session.scalar(select(models.Plan).where(models.Plan.code == "MAIL_STANDARD"))
        history = (await session.scalars(select(models.CatalogPriceChange)
                                         .order_by(models.CatalogPriceChange.id))).all()
    assert plan is not None and len(history) == len(amounts)
    assert history[0].previous_amount == Decimal("4.0000")
    for before, after in itertools.pairwise(history):
        assert after.previous_amount == before.new_amount
    assert history[-1].new_amount == plan.price_per_license
    assert sorted(str(h.new_amount) for h in history) == ["5.0000", "6.0000", "7.0000", "8.0000"]
