"""GET /metrics: request counts by status, latency, and errors by code, in Prometheus' text format."""

from __future__ import annotations

import re
from typing import Any

import httpx

from gateway.http import create_app


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(rf"^{name}\{{(.*)\}} (\S+)$", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


async def test_metrics_count_requests_statuses_and_error_codes(runtime: Any) -> None:
    app = create_app(runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
        for _ in range(3):
            ok = await client.post("/graphql", json={"query": "{ __typename }"})
            assert ok.status_code == 200
        refused = await client.post("/graphql", json={"query": "{ organizations { totalCount } }"})
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        wrong_type = await client.post("/graphql", content=b"query", headers={"content-type": "text/plain"})
        assert wrong_type.status_code == 415
        metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert sample(text, "gateway_graphql_requests_total", method="POST", status="200") == 4
    assert sample(text, "gateway_graphql_requests_total", method="POST", status="415") == 1
    assert sample(text, "gateway_graphql_errors_total", code="UNAUTHENTICATED") == 1
    assert "gateway_graphql_request_seconds_count 5.0" in text.splitlines()
