"""Background jobs: definitions from plugins, the job clock, and asking for a run after commit.

A part declares its background work as :class:`JobDefinition` objects answered from the
``gateway_jobs`` hook. A job body is an *idempotent sweep over durable rows*: the row written in
the business transaction (an outbox message, a delivery, a period that ended...) is the durable
intent; the job processes whatever is due when it runs. So a lost nudge only delays work (the
periodic schedule sweeps again), and a retried or re-run job does each piece of work once.

:func:`request_job` asks for a run of a job soon after the current transaction commits; nothing
happens when it rolls back. On PostgreSQL with the engine's schema installed the job row is
written *in the same transaction* as the change (procrastinate's ``procrastinate_defer_jobs_v1``
called through our session before commit); on SQLite the in-process runner is nudged after commit.

The engine (``gateway.worker``) is procrastinate. Compared, against what the gateway needs:

- **procrastinate** (PostgreSQL): jobs are rows in our own database, so a job is enqueued in the
  same transaction as the change that causes it (a SQL function we call through our session);
  retries with exponential backoff (``RetryStrategy``); periodic (cron) tasks deferred once per
  tick across all workers (a unique row per task and timestamp); any number of workers on any
  number of machines fetch with ``SELECT ... FOR UPDATE SKIP LOCKED``; queueing locks stop a
  periodic job piling up; worker heartbeats let a periodic sweep retry the jobs of a dead worker
  (stalled jobs); an in-memory connector for tests. No extra server.
- **SAQ** (Redis, or PostgreSQL since 0.13): retries, cron, several workers; but its PostgreSQL
  queue manages its own connection pool, so a job cannot be enqueued in our SQLAlchemy
  transaction; with Redis, enqueue-in-transaction is impossible (two stores, no atomic commit).
- **taskiq** (brokers: Redis, NATS, RabbitMQ, asyncpg/psqlpy brokers by third parties): retries
  and the scheduler are middlewares/separate processes (``taskiq scheduler`` must run exactly
  once, or schedules fire twice), and the PostgreSQL brokers publish via LISTEN/NOTIFY or their
  own connection, again outside our transaction.

So procrastinate: the only one of the three that meets "enqueued in the same transaction" and
"cron without a singleton scheduler" with the database we already run.

This module is host-generic: it knows jobs, schedules and clocks, no business word.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pluggy
import structlog

from gateway import tracing
from gateway.db import utcnow
from gateway.errors import PluginContractError
from gateway.plugins import contributions

_log = structlog.get_logger("gateway.jobs")

JobCounts = Mapping[str, int]


@dataclass(frozen=True)
class JobDefinition:
    """One kind of background work a plugin declares (answered from ``gateway_jobs``)."""

    name: str  # "<part>.<verb>", unique across plugins, e.g. "outbox.deliver"
    run: Callable[[JobContext], Awaitable[JobCounts | None]]  # returns counts for logs and metrics
    schedule: str | None = None  # cron expression (UTC): "* * * * *" every minute, "15 3 * * *" daily at 03:15
    description: str = ""
    retries: int = 5  # a failed run is retried this many times, with exponential backoff


@dataclass
class JobContext:
    """What a job body gets: the host, its clock and the arguments it was asked with.

    Job bodies open their own sessions/transactions (``runtime.sessions()``), one per unit of work.
    """

    runtime: Any  # the host Runtime: runtime.sessions(), runtime.plugin_manager, runtime.settings
    now: dt.datetime  # the job's clock: utcnow(), or --as-of / request_job(as_of=) / a test clock
    args: Mapping[str, Any] = field(default_factory=dict)
    job_id: int | None = None  # the engine's job id (None for an in-process run)
    attempt: int = 1  # 1 for the first run, 2 for the first retry...


class JobClash(PluginContractError):
    """Two plugins declare a job of the same name."""


class UnknownJob(KeyError):
    """No enabled plugin declares a job of that name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown job"


def job_definitions(pm: pluggy.PluginManager) -> dict[str, JobDefinition]:
    """Every enabled plugin's job definitions by name; a name declared twice fails naming both plugins."""
    found: dict[str, tuple[str, JobDefinition]] = {}
    for plugin, definitions in contributions(pm, "gateway_jobs"):
        for definition in definitions:
            if not isinstance(definition, JobDefinition):
                raise PluginContractError(f"plugin {plugin!r}: gateway_jobs must return JobDefinition objects, "
                                          f"got {type(definition).__name__}")
            known = found.get(definition.name)
            if known is not None:
                raise JobClash(f"job {definition.name!r} is declared by both plugin {known[0]!r} and plugin {plugin!r}")
            if definition.retries < 0:
                raise PluginContractError(f"plugin {plugin!r}: job {definition.name!r} has negative retries")
            found[definition.name] = (plugin, definition)
    return {name: definition for name, (_, definition) in found.items()}


def definition_of(pm: pluggy.PluginManager, name: str) -> JobDefinition:
    definitions = job_definitions(pm)
    try:
        return definitions[name]
    except KeyError:
        known = ", ".join(sorted(definitions)) or "none"
        raise UnknownJob(f"no job named {name!r}; known jobs: {known}") from None


async def execute(runtime: Any, definition: JobDefinition, *, args: Mapping[str, Any] | None = None,
                  now: dt.datetime | None = None, job_id: int | None = None, attempt: int = 1) -> dict[str, int]:
    """Run one job body: one structured log line (name, id, attempt, duration, counts or error) and the
    job metrics; the body's exception propagates (the engine decides on a retry)."""
    from gateway.job_requests import TRACE_ARG, job_clock, take_traceparents
    from gateway.metrics import JOB_METRICS

    args = dict(args or {})
    # the requests' traces: the span continues the first (a child in its trace) and links the others
    traces = take_traceparents(definition.name, args) if tracing.enabled() else []
    args.pop(TRACE_ARG, None)
    carried = job_clock(args)  # a request's as_of: the body sees it as its clock, not as an argument
    ctx = JobContext(runtime=runtime, now=now or carried or utcnow(), args=args, job_id=job_id, attempt=attempt)
    started = time.perf_counter()
    fields: dict[str, Any] = {"job": definition.name, "job_id": job_id, "attempt": attempt}
    with tracing.span(f"job {definition.name}", parent=traces[0] if traces else None, links=traces[1:],
                      kind="consumer", attributes={"job.name": definition.name, "job.id": job_id,
                                                   "job.attempt": attempt}) as span:
        try:
            counts = dict(await definition.run(ctx) or {})
        except Exception as error:
            seconds = time.perf_counter() - started
            JOB_METRICS.observe_run(definition.name, ok=False, seconds=seconds)
            _log.warning("job failed", **fields, duration_ms=round(seconds * 1000, 1),
                         error=f"{type(error).__name__}: {error}", retries=definition.retries)
            raise
        span.set_attributes({f"job.count.{key}": value for key, value in counts.items()})
    seconds = time.perf_counter() - started
    JOB_METRICS.observe_run(definition.name, ok=True, seconds=seconds, counts=counts)
    _log.info("job", **fields, duration_ms=round(seconds * 1000, 1), counts=counts)
    return counts


async def run_job_once(runtime: Any, name: str, *, now: dt.datetime | None = None, job_id: int | None = None,
                       attempt: int = 1, **args: Any) -> dict[str, int]:
    """Run one job body in-process, now, with the given clock (``gateway jobs run``, tests)."""
    definition = definition_of(runtime.plugin_manager, name)
    return await execute(runtime, definition, args=args, now=now, job_id=job_id, attempt=attempt)


def request_job(ctx_or_session: Any, name: str, *, as_of: dt.datetime | None = None, **args: Any) -> None:
    """Ask for a run of job ``name`` soon after the current transaction commits (nothing if it rolls back).

    ``ctx_or_session``: a request ``Context`` or an (async) SQLAlchemy session in a transaction.
    Synchronous: call it anywhere in the transaction. Arguments must be JSON values. ``as_of``: the run's
    clock (``JobContext.now``; e.g. re-running a day's renewals after an outage), on a worker as in-process;
    requests at different moments are different runs. Without it the run acts at the real time.
    """
    from gateway.job_requests import record_request

    record_request(ctx_or_session, name, dict(args), as_of=as_of)
