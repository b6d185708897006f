"""Prometheus metrics of this worker, served at ``GET /metrics``.

Each worker keeps its own counters (scrape every worker, or run one worker per host); nothing here is
shared state the gateway depends on.

Who may scrape: with ``GATEWAY_METRICS_TOKEN`` set, only a request with ``Authorization: Bearer
<that token>`` (else 401). Without it, anyone in development; in production (``GATEWAY_ENV``) only a
client on the loopback interface (a scraper or sidecar on the same host), others get 403 naming the
setting. A reverse proxy on the same host makes every client look local: set the token there.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response


class JobMetrics:
    """Job runs, failures and durations of this process (the in-process runner or a ``gateway worker``).

    One per process (:data:`JOB_METRICS`): ``/metrics`` of ``gateway serve`` shows them next to the
    request metrics; ``gateway worker`` serves them on ``GATEWAY_WORKER_METRICS_PORT`` when set.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter("gateway_job_runs", "Job runs that ended, by job name and outcome (ok, failed).",
                            ["job", "outcome"], registry=self.registry)
        self.duration = Histogram("gateway_job_seconds", "Time a job run took, by job name.", ["job"],
                                  registry=self.registry,
                                  buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900))
        self.items = Counter("gateway_job_items", "What job runs reported they did (their counts), by job and key.",
                             ["job", "key"], registry=self.registry)

    def observe_run(self, job: str, *, ok: bool, seconds: float, counts: Mapping[str, int] | None = None) -> None:
        self.runs.labels(job=job, outcome="ok" if ok else "failed").inc()
        self.duration.labels(job=job).observe(seconds)
        for key, value in (counts or {}).items():
            if value:
                self.items.labels(job=job, key=key).inc(value)


JOB_METRICS = JobMetrics()


class GatewayMetrics:
    def __init__(self, *, token: str | None = None, production: bool = False) -> None:
        self.token, self.production = token, production
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
        refusal = self.refusal(request)
        if refusal is not None:
            return refusal
        body = generate_latest(self.registry) + generate_latest(JOB_METRICS.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    def refusal(self, request: Request) -> Response | None:
        if self.token:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode()):
                return None
            return PlainTextResponse("GET /metrics needs 'Authorization: Bearer <GATEWAY_METRICS_TOKEN>'.\n",
                                     status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if self.production and not _is_loopback(request):
            return PlainTextResponse("GET /metrics answers only loopback clients with GATEWAY_ENV=production; "
                                     "set GATEWAY_METRICS_TOKEN to scrape from elsewhere.\n", status_code=403)
        return None


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a Unix socket or a test client's name: not a network peer we can vouch for
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 on a dual-stack socket
    return (mapped or address).is_loopback
