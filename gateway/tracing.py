"""OpenTelemetry traces: off by default; when on, one span per request, operation, SQL statement and job run.

Turned on by ``GATEWAY_OTEL_ENABLED=true`` (``Runtime`` calls :func:`configure`); the spans go by
OTLP/HTTP (protobuf) to ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``
(default ``http://localhost:4318``), named by ``OTEL_SERVICE_NAME`` (default ``partner-gateway``);
the other standard ``OTEL_*`` variables (headers, timeout, sampler) are read by the SDK as usual.
Off, every entry point here is a flag check: no provider, no middleware, no SQL listener.

What makes spans:

- :func:`instrument_app`: the ASGI middleware of ``opentelemetry-instrumentation-asgi`` (what the
  Starlette instrumentation installs), one server span per HTTP request named by its route
  (``POST /graphql``), without the per-message ``http send``/``receive`` spans; an incoming W3C
  ``traceparent`` continues the caller's trace.
- :func:`instrument_engine`: ``opentelemetry-instrumentation-sqlalchemy`` on one engine: one span
  per SQL statement (the statement text with its placeholders, never the bound values). On
  PostgreSQL every statement the gateway sends goes through SQLAlchemy to asyncpg, so the asyncpg
  instrumentation would only repeat these spans: it is not installed.
- :func:`span`: a span of the caller's (a GraphQL operation, a job run); attributes are what the
  caller passes, so callers pass names and counts, never variables or values.

A trace crosses the queue as a W3C ``traceparent`` string: :func:`current_traceparent` takes it
where work is requested, :func:`span` with ``parent=`` / ``links=`` continues it where the work runs,
and :func:`inject_headers` hands it on to an outgoing HTTP call.

Host-generic: no business word.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # OpenTelemetry is imported when tracing is turned on, not by a gateway that runs without it
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

T = TypeVar("T")
AttributeValue = str | bool | int | float | Sequence[str] | Sequence[int]

DEFAULT_SERVICE_NAME = "partner-gateway"
TRACEPARENT = "traceparent"


@dataclass
class _Tracing:
    provider: TracerProvider
    tracer: trace.Tracer
    propagator: TraceContextTextMapPropagator
    engine_tracers: list[Any] = field(default_factory=list)


_state: _Tracing | None = None  # None: tracing is off


def enabled() -> bool:
    return _state is not None


def configure(settings: Any = None, *, exporter: SpanExporter | None = None, service_name: str | None = None) -> bool:
    """Turn tracing on for this process (once; later calls keep the first provider).

    ``settings``: the gateway's; nothing happens unless ``settings.otel_enabled`` (or an ``exporter`` is
    given: tests pass the SDK's in-memory exporter, exported synchronously). Returns whether tracing is on.
    """
    global _state
    if _state is not None:
        return True
    if exporter is None and not getattr(settings, "otel_enabled", False):
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    name = service_name or os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoint etc. from OTEL_* variables
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _state = _Tracing(provider=provider, tracer=provider.get_tracer("gateway"),
                      propagator=TraceContextTextMapPropagator())
    return True


def shutdown() -> None:
    """Export what is pending and turn tracing off (process exit, tests); instrumented engines stop tracing."""
    global _state
    state, _state = _state, None
    if state is None:
        return
    for engine_tracer in state.engine_tracers:
        engine_tracer.remove_all_event_listeners()
    state.provider.shutdown()


def tracer_provider() -> TracerProvider | None:
    return _state.provider if _state is not None else None


# ---------------------------------------------------------------- instrumentation
def instrument_app(app: Any) -> None:
    """Add the ASGI server-span middleware to a Starlette app (outermost), when tracing is on."""
    if _state is None:
        return
    asgi = importlib.import_module("opentelemetry.instrumentation.asgi")
    app.add_middleware(asgi.OpenTelemetryMiddleware, tracer=_state.provider.get_tracer("gateway.http"),
                       default_span_details=_route_span_details(app), exclude_spans=["receive", "send"])


def _route_span_details(app: Any) -> Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]:
    from starlette.routing import Match

    def details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """``METHOD /route/{template}``: a bounded set of span names, whatever the path's values."""
        route = scope.get("path", "")
        for candidate in app.routes:
            match, _ = candidate.matches(scope)
            if match == Match.FULL:
                route = getattr(candidate, "path", route)
                break
        method = scope.get("method", "")
        return (f"{method} {route}" if method else route), {"http.route": route}

    return details


def instrument_engine(engine: Any) -> None:
    """One span per SQL statement on this (async or sync) SQLAlchemy engine, when tracing is on."""
    if _state is None:
        return
    sqlalchemy_engine = importlib.import_module("opentelemetry.instrumentation.sqlalchemy.engine")
    from opentelemetry.metrics import NoOpMeterProvider

    connections = NoOpMeterProvider().get_meter("gateway.sql").create_up_down_counter("db.client.connections.usage")
    sync_engine = getattr(engine, "sync_engine", engine)
    _state.engine_tracers.append(sqlalchemy_engine.EngineTracer(
        _state.provider.get_tracer("gateway.sql"), sync_engine, connections))


# ---------------------------------------------------------------- spans
class _NoSpan:
    """What :func:`span` yields when tracing is off: every call does nothing."""

    def set_attribute(self, key: str, value: Any) -> None:
        pass

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        pass

    def is_recording(self) -> bool:
        return False


_NO_SPAN = _NoSpan()


def _context_of(state: _Tracing, traceparent: str | None) -> trace.SpanContext | None:
    from opentelemetry import trace

    if not traceparent:
        return None
    extracted = trace.get_current_span(state.propagator.extract({TRACEPARENT: traceparent})).get_span_context()
    return extracted if extracted.is_valid else None


@contextmanager
def span(name: str, *, parent: str | None = None, links: Iterable[str | None] = (), kind: str = "internal",
         attributes: Mapping[str, AttributeValue | None] | None = None) -> Iterator[Any]:
    """A span around the block (a no-op object when tracing is off).

    ``parent``: a ``traceparent`` to continue (work requested elsewhere); the current span otherwise.
    ``links``: other ``traceparent`` strings this work serves (requests coalesced into one run).
    ``kind``: ``internal``, ``server``, ``client``, ``producer`` or ``consumer``.
    ``attributes``: names, counts, ids; ``None`` values are left out. Never pass values a user sent.
    """
    if _state is None:
        yield _NO_SPAN
        return
    from opentelemetry import trace

    parent_context = _context_of(_state, parent)
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(parent_context)) if parent_context else None
    span_links = [trace.Link(found) for found in (_context_of(_state, link) for link in links)
                  if found is not None and found != parent_context]
    clean = {key: value for key, value in (attributes or {}).items() if value is not None}
    with _state.tracer.start_as_current_span(name, context=ctx, kind=trace.SpanKind[kind.upper()],
                                             links=span_links, attributes=clean) as current:
        yield current


async def run_in_span(work: Awaitable[T], name: str, *, parent: str | None = None, kind: str = "internal",
                      attributes: Mapping[str, AttributeValue | None] | None = None,
                      result_attributes: Callable[[T], Mapping[str, AttributeValue | None]] | None = None) -> T:
    """Await ``work`` inside :func:`span`; with ``parent`` the span continues that trace and links the
    current one (a batch's item sent on behalf of the change that caused it). ``result_attributes``
    describes the outcome (a status code) on the span."""
    if _state is None:
        return await work
    current = current_traceparent()
    with span(name, parent=parent, links=[current] if parent else (), kind=kind, attributes=attributes) as active:
        result = await work
        if result_attributes is not None:
            active.set_attributes({k: v for k, v in result_attributes(result).items() if v is not None})
        return result


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span; None when tracing is off or no span is current."""
    if _state is None:
        return None
    carrier: dict[str, str] = {}
    _state.propagator.inject(carrier)  # the current context
    return carrier.get(TRACEPARENT)


def add_trace_ids(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: the current span's ``trace_id`` and ``span_id`` on every log line, so a line
    leads to its trace (and a trace to its lines); nothing when tracing is off or no span is current."""
    if _state is None:
        return event
    from opentelemetry import trace as otel_trace

    context = otel_trace.get_current_span().get_span_context()
    if context.is_valid:
        event.setdefault("trace_id", format(context.trace_id, "032x"))
        event.setdefault("span_id", format(context.span_id, "016x"))
    return event


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add the current span's ``traceparent`` (and ``tracestate``) to outgoing HTTP ``headers``; returns them."""
    if _state is not None:
        _state.propagator.inject(headers)  # the current context
    return headers
