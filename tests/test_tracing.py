"""OpenTelemetry traces (gateway/tracing.py): off by default; on, one trace follows a change from the HTTP
request (request span, operation span, SQL spans) through the job that it asked for to the webhook delivery
(a ``traceparent`` header at a real receiver); the OTLP/HTTP exporter sends to the configured endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import select, text

from gateway import tracing
from gateway.http import create_app
from gateway.job_requests import QUEUE, TRACE_ARG, queueing_lock
from gateway.jobs import request_job
from gateway.runtime import Runtime
from gateway.testing import POSTGRES_ENV, make_test_runtime, run_job, run_query
from gateway.worker import apply_engine_schema, build_app
from schema.models import EventRecord
from schema.testing import World
from tests.test_webhooks import CREATE as CREATE_ENDPOINT

ROOT = Path(__file__).resolve().parents[1]
RECEIVER_PORT = 18680
COLLECTOR_PORT = 18681
MARKER = "Tracy-Secret-7731"  # a value sent in the variables: it must appear in no span
CREATE_ORG = """mutation CreateOrg($input: CreateOrganizationInput!) { createOrganization(input: $input) {
  organization { id name } userErrors { code } } }"""


class Recorder:
    """A real HTTP server on loopback that answers 200 to every POST and keeps (path, headers, body)."""

    def __init__(self, port: int) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                recorder.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    monkeypatch.setenv("GATEWAY_WEBHOOK_ALLOW_PRIVATE", "1")
    server = Recorder(RECEIVER_PORT)
    yield server
    server.close()


@pytest_asyncio.fixture
async def spans(runtime: Runtime, world: World) -> AsyncIterator[InMemorySpanExporter]:
    """Tracing on for one test, into memory; the shared runtime's engine traced too."""
    exporter = InMemorySpanExporter()
    assert tracing.configure(exporter=exporter)
    tracing.instrument_engine(runtime.engine)
    try:
        yield exporter
    finally:
        tracing.shutdown()


def client_for(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://gateway.test")


async def has_queue(runtime: Runtime) -> bool:
    """PostgreSQL with the job engine's schema (another test may have installed it): requests are job rows."""
    if runtime.engine.dialect.name != "postgresql":
        return False
    async with runtime.engine.connect() as connection:
        return bool(await connection.scalar(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")))


async def run_requested(runtime: Runtime, name: str) -> dict[str, int]:
    """Run the job a change requested as the engine would: on PostgreSQL with the queue, with its job row's
    arguments (what the worker passes); else the in-process way (the request nudged in memory)."""
    args: dict[str, Any] = {}
    if await has_queue(runtime):
        async with runtime.engine.begin() as connection:
            row = await connection.scalar(text("DELETE FROM procrastinate_jobs WHERE task_name = :name AND "
                                               "status = 'todo' RETURNING args"), {"name": name})
        args = row if isinstance(row, dict) else json.loads(row)
    return await run_job(runtime, name, **args)


def trace_id_of(traceparent: str) -> int:
    return int(traceparent.split("-")[1], 16)


def attribute_text(span: ReadableSpan) -> str:
    return json.dumps({**(span.attributes or {})}, default=str) + span.name


# ---------------------------------------------------------------- off by default
def test_tracing_is_off_by_default_and_loads_no_sdk() -> None:
    """A gateway built with default settings: no provider, no request middleware, no SQL listener; the
    OpenTelemetry SDK is not even imported (measured in a fresh interpreter)."""
    code = (
        "import sys\n"
        "from opentelemetry import trace\n"
        "from gateway.http import create_app\n"
        "from gateway.runtime import Runtime\n"
        "from gateway.settings import Settings\n"
        "from gateway import tracing\n"
        "runtime = Runtime(Settings(database_url='sqlite+aiosqlite:///:memory:'))\n"
        "app = create_app(runtime)\n"
        "print(tracing.enabled(), tracing.current_traceparent(), tracing.inject_headers({}),\n"
        "      [m.cls.__name__ for m in app.user_middleware], 'opentelemetry.sdk' in sys.modules,\n"
        "      type(trace.get_tracer_provider()).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OTEL_"))}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[-2] == (
        "False None {} ['RequestLogMiddleware', 'DatabaseFaultGuard'] False ProxyTracerProvider")


async def test_off_the_request_job_and_event_carry_no_trace(runtime: Runtime, world: World) -> None:
    assert not tracing.enabled()
    async with client_for(runtime) as client:
        response = await client.post("/graphql", json={"query": CREATE_ORG, "variables": new_org(world)},
                                     headers={"authorization": f"Bearer {world.tokens['reseller_admin']}"})
    assert response.json()["data"]["createOrganization"]["userErrors"] == []
    async with runtime.sessions() as session:
        assert [e.trace_context for e in (await session.scalars(select(EventRecord))).all()] == [None, None]
    with tracing.span("nothing", attributes={"a": 1}) as span:
        span.set_attributes({"b": 2})
        assert not span.is_recording()


# ---------------------------------------------------------------- on: request -> operation -> SQL -> job -> webhook
def new_org(world: World) -> dict[str, Any]:
    return {"input": {"partnerId": world.partner_id("reseller"), "name": MARKER, "domain": "tracy.example",
                      "superAdminEmail": f"{MARKER.lower()}@tracy.example"}}


async def test_one_trace_follows_a_change_from_the_request_through_the_job_to_the_webhook(
        runtime: Runtime, world: World, spans: InMemorySpanExporter, receiver: Recorder) -> None:
    created = (await run_query(runtime, CREATE_ENDPOINT, {"input": {
        "partnerId": world.partner_id("reseller"), "url": f"http://127.0.0.1:{RECEIVER_PORT}/hooks",
        "eventTypes": ["organization.*"]}}, token=world.tokens["reseller_admin"])).ok()
    assert created["createWebhookEndpoint"]["userErrors"] == []
    if await has_queue(runtime):  # no request of an earlier test waits (its queueing lock would absorb ours)
        async with runtime.engine.begin() as connection:
            await connection.execute(text("DELETE FROM procrastinate_jobs WHERE status = 'todo'"))
    spans.clear()

    async with client_for(runtime) as client:
        response = await client.post("/graphql", json={"query": CREATE_ORG, "variables": new_org(world),
                                                       "operationName": "CreateOrg"},
                                     headers={"authorization": f"Bearer {world.tokens['reseller_admin']}"})
    assert response.json()["data"]["createOrganization"]["userErrors"] == []
    request_spans = list(spans.get_finished_spans())

    # the request span (server, named by route), the operation span (its child), the SQL spans (children)
    [server] = [s for s in request_spans if s.kind == SpanKind.SERVER]
    assert server.name == "POST /graphql"
    assert server.parent is None
    trace_id = server.context.trace_id
    assert {s.context.trace_id for s in request_spans} == {trace_id}
    [operation] = [s for s in request_spans if s.name.startswith("mutation")]
    assert operation.name == "mutation CreateOrg"
    assert operation.parent is not None and operation.parent.span_id == server.context.span_id
    assert operation.attributes is not None
    assert operation.attributes["graphql.operation.name"] == "CreateOrg"
    assert operation.attributes["graphql.operation.type"] == "mutation"
    assert operation.attributes["graphql.error.count"] == 0
    assert isinstance(operation.attributes["graphql.cost"], int) and operation.attributes["graphql.cost"] > 0
    sql = [s for s in request_spans if s.attributes and "db.statement" in s.attributes]
    assert 3 <= len(sql) <= 60, [s.name for s in sql]  # one per statement, bounded; nothing per field
    assert len(request_spans) == 2 + len(sql), sorted({s.name for s in request_spans} - {s.name for s in sql})
    assert any("INSERT INTO organizations" in str((s.attributes or {}).get("db.statement")) for s in sql)
    for found in request_spans:  # no variable value anywhere: neither the name nor the e-mail sent
        assert MARKER.lower() not in attribute_text(found).lower(), found.name

    # the events stored by the change keep the operation's trace
    async with runtime.sessions() as session:
        events = list((await session.scalars(select(EventRecord).order_by(EventRecord.id))).all())
    assert events and all(e.trace_context and trace_id_of(e.trace_context) == trace_id for e in events)

    # the job requested by the mutation (its job row's args on PostgreSQL, nudged in memory on SQLite)
    # continues the request's trace
    spans.clear()
    counts = await run_requested(runtime, "webhooks.deliver")
    assert counts.get("succeeded") == len(receiver.requests) >= 1, counts  # organization.created
    job_spans = list(spans.get_finished_spans())
    [job] = [s for s in job_spans if s.name == "job webhooks.deliver"]
    assert job.context.trace_id == trace_id and job.kind == SpanKind.CONSUMER
    assert job.attributes is not None and job.attributes["job.count.succeeded"] == len(receiver.requests)

    # each delivery: a client span in the event's trace, linked to the job's span, its traceparent sent
    deliveries = [s for s in job_spans if s.name == "webhook delivery"]
    assert len(deliveries) == len(receiver.requests)
    for delivery in deliveries:
        assert delivery.kind == SpanKind.CLIENT and delivery.context.trace_id == trace_id
        assert [link.context.span_id for link in delivery.links] == [job.context.span_id]
        assert delivery.attributes is not None and delivery.attributes["http.response.status_code"] == 200
    sent = sorted(headers["traceparent"].rsplit("-", 1)[0] for _, headers, _ in receiver.requests)  # less the flags
    assert {trace_id_of(tp) for tp in sent} == {trace_id}
    assert sent == sorted(f"00-{trace_id:032x}-{d.context.span_id:016x}" for d in deliveries)

    # a second run finds nothing due: its span starts a trace of its own
    spans.clear()
    await run_job(runtime, "webhooks.deliver")
    [again] = [s for s in spans.get_finished_spans() if s.name == "job webhooks.deliver"]
    assert again.context.trace_id != trace_id and again.parent is None


async def test_a_job_row_carries_the_trace_in_its_arguments_outside_the_body(
        runtime: Runtime, world: World, spans: InMemorySpanExporter) -> None:
    """On PostgreSQL the requester's traceparent travels in the job row's args (``_traceparent``): the run's
    span continues it, and the job body never sees the key."""
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    counts = await run_job(runtime, "webhooks.deliver", **{TRACE_ARG: traceparent})
    assert counts == {}
    [job] = [s for s in spans.get_finished_spans() if s.name == "job webhooks.deliver"]
    assert job.context.trace_id == trace_id_of(traceparent)
    assert job.parent is not None and job.parent.span_id == 0xB7AD6B7169203331


async def test_a_refused_operation_counts_its_error_codes(
        runtime: Runtime, world: World, spans: InMemorySpanExporter) -> None:
    async with client_for(runtime) as client:
        response = await client.post("/graphql", json={"query": CREATE_ORG, "variables": new_org(world)},
                                     headers={"authorization": f"Bearer {world.tokens['org_super_admin']}"})
    assert response.json()["errors"]
    [operation] = [s for s in spans.get_finished_spans() if s.name == "mutation CreateOrg"]
    assert operation.attributes is not None
    assert operation.attributes["graphql.error.count"] == len(response.json()["errors"])
    assert operation.attributes["graphql.error.codes"] == ("FORBIDDEN",)


def test_log_lines_carry_the_current_trace_and_span_ids(spans: InMemorySpanExporter) -> None:
    """A log line leads to its trace: trace_id and span_id of the current span (none outside a span)."""
    import io

    import structlog

    from gateway.logging import configure_logging

    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    try:
        log = structlog.get_logger("gateway.test")
        log.info("outside")
        with tracing.span("work"):
            log.info("inside")
    finally:
        configure_logging("INFO")
    outside, inside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert "trace_id" not in outside and "span_id" not in outside
    [work] = [s for s in spans.get_finished_spans() if s.name == "work"]
    assert inside["trace_id"] == format(work.context.trace_id, "032x")
    assert inside["span_id"] == format(work.context.span_id, "016x")


# ---------------------------------------------------------------- OTLP export when configured
def test_spans_are_exported_by_otlp_http_to_the_configured_endpoint() -> None:
    """GATEWAY_OTEL_ENABLED and the standard OTEL_* variables, in a fresh process: a query through the app is
    posted as OTLP/HTTP protobuf to <endpoint>/v1/traces, under OTEL_SERVICE_NAME."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    collector = Recorder(COLLECTOR_PORT)
    code = (
        "import asyncio, httpx\n"
        "from gateway.http import create_app\n"
        "from gateway.runtime import Runtime\n"
        "async def main():\n"
        "    runtime = Runtime()\n"
        "    transport = httpx.ASGITransport(app=create_app(runtime))\n"
        "    async with httpx.AsyncClient(transport=transport, base_url='http://gateway.test') as client:\n"
        "        response = await client.post('/graphql', json={'query': '{ __typename }'})\n"
        "        assert response.status_code == 200, response.text\n"
        "    await runtime.dispose()\n"
        "asyncio.run(main())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "OTEL_"))}
    env.update({"GATEWAY_OTEL_ENABLED": "true", "GATEWAY_DATABASE_URL": "sqlite+aiosqlite:///:memory:",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{COLLECTOR_PORT}",
                "OTEL_SERVICE_NAME": "gateway-under-test"})
    try:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=120)
    finally:
        collector.close()
    assert out.returncode == 0, out.stderr
    posts = [(path, headers, body) for path, headers, body in collector.requests if path == "/v1/traces"]
    assert posts, collector.requests
    assert {headers["content-type"] for _, headers, _ in posts} == {"application/x-protobuf"}
    names, services = [], set()
    for _, _, body in posts:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            services |= {a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"}
            names += [s.name for scope in resource_spans.scope_spans for s in scope.spans]
    assert services == {"gateway-under-test"}
    assert "POST /graphql" in names and "query" in names


# ---------------------------------------------------------------- PostgreSQL: the job row carries the trace
@pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} is not set")
async def test_on_postgresql_the_worker_runs_the_job_row_in_the_requesters_trace() -> None:
    """request_job in a traced transaction writes ``_traceparent`` into the job row's args (not into its
    queueing lock); procrastinate's worker runs it in a span that is a child of the requester's span, and the
    body sees only its own arguments."""
    from jobs_demo import CLEAR, TABLES, DemoJobs

    exporter = InMemorySpanExporter()
    assert tracing.configure(exporter=exporter)
    runtime = make_test_runtime("postgres", extra_plugins=[("jobs_demo", DemoJobs())])
    try:
        await apply_engine_schema(runtime.engine)
        async with runtime.engine.begin() as connection:
            for statement in [*TABLES, *CLEAR, "DELETE FROM procrastinate_jobs"]:
                await connection.execute(text(statement))
        with tracing.span("request") as request:
            traceparent = tracing.current_traceparent()
            async with runtime.sessions() as session, session.begin():
                request_job(session, "demo.record", n=7)
        async with runtime.engine.connect() as connection:
            [(job_id, args, lock)] = (await connection.execute(text(
                "SELECT id, args, queueing_lock FROM procrastinate_jobs WHERE task_name = 'demo.record'"))).all()
        assert args == {"n": 7, TRACE_ARG: traceparent}
        assert lock == queueing_lock("demo.record", {"n": 7})

        app = build_app(runtime)
        async with app.open_async():
            await app.run_worker_async(queues=[QUEUE], wait=False, install_signal_handlers=False,
                                       delete_jobs="successful")
        [job] = [s for s in exporter.get_finished_spans() if s.name == "job demo.record"]
        assert job.context.trace_id == request.get_span_context().trace_id
        assert job.parent is not None and job.parent.span_id == request.get_span_context().span_id
        assert job.attributes is not None and job.attributes["job.id"] == job_id
        async with runtime.engine.connect() as connection:
            assert (await connection.execute(text("SELECT n FROM jobs_demo_runs"))).scalars().all() == [7]
    finally:
        tracing.shutdown()
        await runtime.dispose()
