"""Prometheus metrics of this worker, served at ``GET /metrics``.

Each worker keeps its own counters (scrape every worker, or run one worker per host); nothing here is
shared state the gateway depends on.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("gateway_graphql_requests", "GraphQL HTTP requests by method and status.",
                                ["method", "status"], registry=self.registry)
        self.duration = Histogram("gateway_graphql_request_seconds", "Time to answer a GraphQL HTTP request.",
                                  registry=self.registry,
                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.errors = Counter("gateway_graphql_errors", "GraphQL errors returned, by extensions.code.", ["code"],
                              registry=self.registry)

    def observe_request(self, method: str, status: int, seconds: float) -> None:
        self.requests.labels(method=method, status=str(status)).inc()
        self.duration.observe(seconds)

    def count_errors(self, codes: list[str]) -> None:
        for code in codes:
            self.errors.labels(code=code or "UNKNOWN").inc()

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)
