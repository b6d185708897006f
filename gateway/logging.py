"""Structured logs: structlog on top of stdlib logging, and one log line per HTTP request.

``configure_logging`` is called once by ``gateway serve`` and by ``create_app``: every
record (structlog's and plain ``logging``'s, uvicorn's included) goes through one
handler on stderr — JSON lines when stderr is not a terminal (log shippers), readable
coloured lines otherwise. ``RequestLogMiddleware`` binds a request id to every record
logged while a request runs and writes one ``request`` line when it ends.
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog

from gateway.sensitive import redact_log_event, redacting
from gateway.tracing import add_trace_ids

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

_configured: tuple[str, bool] | None = None

_SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    add_trace_ids,  # trace_id / span_id when tracing is on (GATEWAY_OTEL_ENABLED)
]


def configure_logging(level: str = "INFO", *, json: bool | None = None, stream: Any = None) -> None:
    """Route structlog and stdlib logging to one stderr handler at ``level``.

    ``json=None`` picks JSON lines unless the stream is a terminal. Calling it again with
    the same arguments does nothing, so every worker and every app factory may call it.
    """
    global _configured
    stream = stream or sys.stderr
    as_json = (not _isatty(stream)) if json is None else json
    if _configured == (level, as_json) and stream is sys.stderr:
        return
    renderer: Any = (structlog.processors.JSONRenderer() if as_json
                     else structlog.dev.ConsoleRenderer(colors=_isatty(stream)))
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_SHARED_PROCESSORS, structlog.stdlib.ExtraAdder(), _drop_uvicorn_colors],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if as_json else _keep,
            redact_log_event,  # no card number or CVV in any log line, whoever logged it
            redacting(renderer),
        ],
    )
    handler = _StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.set_name("gateway")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "gateway":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # RequestLogMiddleware logs requests
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED_PROCESSORS,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    _configured = (level, as_json) if stream is sys.stderr else None


class _StreamHandler(logging.StreamHandler[Any]):
    """Writes to ``sys.stderr`` as it is at emit time (test runners swap it), or to a given stream."""

    def __init__(self, stream: Any) -> None:
        logging.Handler.__init__(self)
        self._fixed = None if stream is sys.stderr else stream

    @property
    def stream(self) -> Any:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        self._fixed = value


def _drop_uvicorn_colors(_logger: Any, _name: str, event: Any) -> Any:
    """uvicorn logs each message twice, once as ``extra={"color_message": <ANSI codes>}``: keep the plain one."""
    event.pop("color_message", None)
    return event


def _keep(_logger: Any, _name: str, event: Any) -> Any:
    return event


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class RequestLogMiddleware:
    """One ``request`` log line per HTTP request, with a request id bound to every record logged meanwhile.

    The id is taken from an incoming ``X-Request-Id`` header when it looks sane, and echoed back.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = structlog.get_logger("gateway.request")

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex[:16]
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self.log.info(
                    "request", method=scope.get("method"), path=scope.get("path"), status=status,
                    ms=round((time.perf_counter() - started) * 1000, 2),
                )


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers") or []:
        if name == b"x-request-id":
            text: str = value.decode("latin-1").strip()
            if 0 < len(text) <= 64 and all(c.isalnum() or c in "-_." for c in text):
                return text
    return None
