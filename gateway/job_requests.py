"""How :func:`gateway.jobs.request_job` reaches the engine: in the transaction, or after its commit.

Requests are recorded on the session (``session.info``). Before the commit, on a PostgreSQL
database where the engine's schema is installed, each request becomes a procrastinate job row
written by ``procrastinate_defer_jobs_v1`` in the same transaction (so the job commits or rolls back
with the change). After the commit, the in-process runner of that database (SQLite, ``gateway
serve``) is nudged. A rollback drops the requests.

A request carries a queueing lock (job name and arguments): while an identical request waits in
the queue, another one adds nothing (a savepoint absorbs the unique-index conflict), so a burst of
changes yields one pending run, not one per change.

The trace follows the request (gateway/tracing.py, when tracing is on): the requester's W3C
``traceparent`` travels in the job row's arguments under ``_traceparent`` (outside the queueing lock),
or, for the in-process runner, beside the nudge in memory (:func:`take_traceparents`, bounded); the
job's span continues that trace.

A request may carry its clock: ``request_job(..., as_of=moment)`` puts the moment (ISO 8601, UTC) in the
arguments under ``_as_of``, *inside* the queueing lock (two requests at different moments are two runs;
a run at one moment serves every identical request), and the run's ``JobContext.now`` is that moment
(:func:`job_clock`, which takes it out of the arguments the body sees), on a worker or in-process alike.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gateway import tracing

log = logging.getLogger("gateway.jobs")

PENDING = "gateway.jobs.pending"
TRACES = "gateway.jobs.traces"  # {queueing lock: the requester's traceparent}
DEFERRED = "gateway.jobs.deferred"  # the requests became job rows in the transaction
TRACE_ARG = "_traceparent"  # in a job row's arguments: the trace of the request that asked for it
AS_OF_ARG = "_as_of"  # in a request's arguments: the clock its run acts at (ISO 8601, UTC)
RESERVED_ARGS = (TRACE_ARG, AS_OF_ARG)
MAX_CARRIED = 1000  # in-memory traceparents waiting for an in-process run: distinct requests kept at most
MAX_CARRIED_PER_REQUEST = 32
QUEUE = "gateway"
DEFER_SQL = text(
    "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, NULL, :queueing_lock, "
    "CAST(:args AS jsonb), NULL)]::procrastinate_job_to_defer_v1[])"
)
SCHEMA_PROBE = text("SELECT to_regproc('procrastinate_defer_jobs_v1') IS NOT NULL")

Nudge = Callable[[str, dict[str, Any]], None]
# the in-process runner of each database (by its synchronous engine), nudged after commit
_runners: weakref.WeakKeyDictionary[Engine, Nudge] = weakref.WeakKeyDictionary()
# databases where the engine's schema was found (only positive answers are remembered)
_engine_schema: weakref.WeakSet[Engine] = weakref.WeakSet()
# traceparents of requests handed to an in-process run (no job row carries them): {queueing lock: [traceparent]}
_carried: dict[str, list[str]] = {}


def register_runner(engine: Engine, nudge: Nudge) -> None:
    """Nudge ``nudge(name, args)`` after each commit on ``engine`` that requested a job."""
    _runners[engine] = nudge


def unregister_runner(engine: Engine) -> None:
    _runners.pop(engine, None)


def queueing_lock(name: str, args: dict[str, Any]) -> str:
    return "request:" + name + (":" + json.dumps(args, sort_keys=True, default=str) if args else "")


def _sync_session(ctx_or_session: Any) -> Session:
    session = getattr(ctx_or_session, "session", ctx_or_session)  # a Context carries its session
    session = getattr(session, "sync_session", session)  # an AsyncSession wraps a Session
    if not isinstance(session, Session):
        raise TypeError(f"request_job needs a Context or a session, got {type(ctx_or_session).__name__}")
    return session


def clock_arg(as_of: dt.datetime) -> str:
    """``as_of`` as a request carries it: ISO 8601 in UTC (a naive moment is taken as UTC)."""
    if not isinstance(as_of, dt.datetime):
        raise TypeError(f"as_of must be a datetime, got {type(as_of).__name__}")
    return (as_of if as_of.tzinfo else as_of.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).isoformat()


def job_clock(args: dict[str, Any]) -> dt.datetime | None:
    """The clock a request carried (removed from ``args``), or None: the run acts at the real time."""
    value = args.pop(AS_OF_ARG, None)
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def record_request(ctx_or_session: Any, name: str, args: dict[str, Any], as_of: dt.datetime | None = None) -> None:
    session = _sync_session(ctx_or_session)
    reserved = [key for key in RESERVED_ARGS if key in args]
    if reserved:
        raise TypeError(f"request_job: {', '.join(reserved)} is reserved (pass as_of=... for the clock)")
    if as_of is not None:
        args = {**args, AS_OF_ARG: clock_arg(as_of)}
    json.dumps(args)  # arguments travel as JSON: refuse others here, in the caller's frame
    pending: list[tuple[str, dict[str, Any]]] = session.info.setdefault(PENDING, [])
    if (name, args) not in pending:
        pending.append((name, args))
    traceparent = tracing.current_traceparent()  # None when tracing is off
    if traceparent is not None:
        session.info.setdefault(TRACES, {}).setdefault(queueing_lock(name, args), traceparent)


def _has_engine_schema(session: Session) -> bool:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    if engine.dialect.name != "postgresql":
        return False
    if engine in _engine_schema:
        return True
    if session.connection().scalar(SCHEMA_PROBE):
        _engine_schema.add(engine)
        return True
    return False


@sa_event.listens_for(Session, "before_commit")
def _defer_in_transaction(session: Session) -> None:
    pending = session.info.get(PENDING)
    if not pending or not _has_engine_schema(session):
        return
    connection = session.connection()
    traces: dict[str, str] = session.info.get(TRACES, {})
    session.info[DEFERRED] = True
    for name, args in pending:
        lock = queueing_lock(name, args)
        traced = {**args, TRACE_ARG: traces[lock]} if lock in traces else args
        savepoint = connection.begin_nested()
        try:
            connection.execute(DEFER_SQL, {"queue": QUEUE, "task": name, "queueing_lock": lock,
                                           "args": json.dumps(traced)})
        except DBAPIError as error:  # an identical request already waits in the queue: it will do
            savepoint.rollback()
            if "queueing_lock" not in str(error):
                raise
        else:
            savepoint.commit()


@sa_event.listens_for(Session, "after_commit")
def _nudge_after_commit(session: Session) -> None:
    pending = session.info.pop(PENDING, None)
    traces: dict[str, str] = session.info.pop(TRACES, {})
    if session.info.pop(DEFERRED, False) or not pending:
        return
    for lock, traceparent in traces.items():
        _carry(lock, traceparent)
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    nudge = _runners.get(engine)
    if nudge is None:
        return
    for name, args in pending:
        try:
            nudge(name, args)
        except Exception:  # a nudge never fails a committed change: the schedule sweeps again
            log.exception("job request %s could not be passed to the in-process runner", name)


@sa_event.listens_for(Session, "after_rollback")
def _drop_requests(session: Session) -> None:
    session.info.pop(PENDING, None)
    session.info.pop(TRACES, None)
    session.info.pop(DEFERRED, None)


def _carry(lock: str, traceparent: str) -> None:
    waiting = _carried.setdefault(lock, [])
    if len(waiting) < MAX_CARRIED_PER_REQUEST:
        waiting.append(traceparent)
    while len(_carried) > MAX_CARRIED:  # nothing runs these requests here: forget the oldest
        del _carried[next(iter(_carried))]


def take_traceparents(name: str, args: dict[str, Any]) -> list[str]:
    """The traces of the requests a run of ``name`` with ``args`` serves: the job row's, then those carried
    in memory since the last run (removed from ``args`` / forgotten here)."""
    found = [str(args.pop(TRACE_ARG))] if TRACE_ARG in args else []
    return found + _carried.pop(queueing_lock(name, args), [])
