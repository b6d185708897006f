"""The partner-console dashboard query runs the same SQL statements at 10 and at 1000 customers."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from gateway.testing import clear_tables

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "dashboard.py"
_spec = importlib.util.spec_from_file_location("benchmarks_dashboard", _PATH)
assert _spec and _spec.loader
dashboard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dashboard)


async def test_dashboard_statement_count_is_the_same_at_10_and_1000_customers(runtime: Any) -> None:
    counts = {}
    for size in (10, 1000):
        await clear_tables(runtime)
        dataset = await dashboard.build_dataset(runtime, size)
        counts[size] = await dashboard.dashboard_statements(runtime, dataset)
        data = await dashboard.graphql_dashboard(runtime, dataset)
        assert data.count(b'"MAIL_PREMIUM"') == min(size, 100)  # every customer on the page came with its subscriptions
    assert counts[10] == counts[1000], counts


async def test_dashboard_json_equals_the_raw_sqlalchemy_json(runtime: Any) -> None:
    import orjson

    dataset = await dashboard.build_dataset(runtime, 25)
    graphql = orjson.loads(await dashboard.graphql_dashboard(runtime, dataset))
    raw = orjson.loads(await dashboard.raw_dashboard(runtime, int(dataset["partner_pk"])))
    assert graphql == raw
    assert graphql["data"]["partner"]["customers"]["totalCount"] == 25
