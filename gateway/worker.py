"""The job engine on PostgreSQL: procrastinate's App built from the job definitions, its schema, the queue.

One procrastinate task per :class:`gateway.jobs.JobDefinition` (same name, queue ``gateway``):
``retries`` becomes a ``RetryStrategy`` with exponential backoff (``GATEWAY_JOB_RETRY_BACKOFF`` **
attempt seconds); ``schedule`` a periodic task deferred once per tick across all workers, with a
queueing lock (a tick adds nothing while a run of that job still waits) and a lock (runs of one job
never overlap). A built-in periodic task, ``jobs.retry_stalled``, puts back the jobs of workers whose
heartbeat stopped (a crashed or killed worker): they run again, and their idempotent bodies do the
remaining work once.

A job row's arguments may carry a clock (``_as_of``, from ``request_job(..., as_of=)`` or ``gateway jobs
defer NAME --as-of DATE``): :func:`gateway.jobs.execute` makes it the run's ``JobContext.now``, also on a retry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, cast

import procrastinate
from packaging.version import Version
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.job_requests import QUEUE
from gateway.jobs import JobDefinition, execute, job_definitions

STALLED_TASK = "jobs.retry_stalled"
SCHEMA_TABLE = "gateway_job_engine_schema"  # which procrastinate version's schema this database has
_MIGRATION_NAME = re.compile(r"^(\d+)\.(\d+)\.(\d+)_(\d+)_.*\.sql$")


class EngineUnavailable(Exception):
    """The job engine needs PostgreSQL (or its schema is missing); the message says what to do."""


def conninfo(database_url: str) -> str:
    """The libpq URL (psycopg) of our SQLAlchemy URL ``postgresql+asyncpg://...``."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def build_app(runtime: Any, *, connector: Any = None) -> procrastinate.App:
    """procrastinate's App for ``runtime``'s job definitions (psycopg connector on its database by default)."""
    settings = runtime.settings
    if connector is None:
        if settings.is_sqlite:
            raise EngineUnavailable("the job engine needs PostgreSQL (GATEWAY_DATABASE_URL is SQLite): "
                                    "`gateway serve` runs the jobs in-process there")
        connector = procrastinate.PsycopgConnector(conninfo=conninfo(settings.database_url))
    app = procrastinate.App(connector=connector)
    for definition in job_definitions(runtime.plugin_manager).values():
        _add_task(app, runtime, definition, backoff=settings.job_retry_backoff)

    async def retry_stalled(timestamp: int) -> None:
        await retry_stalled_jobs(app, settings.job_stalled_seconds)

    stalled = app.task(name=STALLED_TASK, queue=QUEUE)(retry_stalled)
    app.periodic(cron=settings.job_stalled_sweep, periodic_id="", queueing_lock=f"periodic:{STALLED_TASK}")(stalled)
    return app


def _add_task(app: procrastinate.App, runtime: Any, definition: JobDefinition, *, backoff: int) -> None:
    async def run(context: procrastinate.JobContext, /, **kwargs: Any) -> None:
        kwargs.pop("timestamp", None)  # a periodic run's tick: the job's clock is now, not when it was due
        # a request's clock (_as_of) stays in kwargs: execute reads it as the run's now
        job = context.job
        await execute(runtime, definition, args=kwargs, job_id=job.id, attempt=job.attempts + 1)

    retry: procrastinate.RetryStrategy | bool = (
        procrastinate.RetryStrategy(max_attempts=definition.retries, exponential_wait=backoff)
        if definition.retries else False)
    task = app.task(name=definition.name, queue=QUEUE, pass_context=True, retry=retry)(run)
    if definition.schedule:
        app.periodic(cron=definition.schedule, periodic_id="", queueing_lock=f"periodic:{definition.name}",
                     lock=definition.name)(cast(Any, task))  # the tick arrives in **kwargs


async def retry_stalled_jobs(app: procrastinate.App, seconds_since_heartbeat: float) -> int:
    """Put back in the queue the running jobs of workers silent for ``seconds_since_heartbeat``."""
    stalled = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat))
    for job in stalled:
        await app.job_manager.retry_job(job)
    return len(stalled)


async def run_worker(runtime: Any, *, concurrency: int = 1, name: str | None = None) -> None:
    settings = runtime.settings
    app = build_app(runtime)
    async with app.open_async():
        await app.run_worker_async(
            queues=[QUEUE], concurrency=concurrency, name=name or "gateway", delete_jobs="successful",
            update_heartbeat_interval=max(settings.job_stalled_seconds / 6, 0.5),
            stalled_worker_timeout=settings.job_stalled_seconds, install_signal_handlers=True,
        )


# ---------------------------------------------------------------- the engine's schema
def _migrations() -> list[tuple[Version, int, str]]:
    found = []
    for entry in resources.files("procrastinate.sql.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            major, minor, patch, order = (int(part) for part in match.groups())
            found.append((Version(f"{major}.{minor}.{patch}"), order, entry.name))
    return sorted(found)


async def apply_engine_schema(engine: AsyncEngine) -> str:
    """Install procrastinate's schema, or bring it to the installed version; idempotent.

    A fresh database gets ``schema.sql`` of the installed procrastinate; a database with an older one
    gets the migration files released since (procrastinate's documented upgrade path), in order. The
    version is recorded in ``gateway_job_engine_schema``. An advisory lock serialises concurrent runs.
    """
    installed = Version(procrastinate.__version__)
    async with engine.begin() as connection:
        await connection.execute(text("SELECT pg_advisory_xact_lock(hashtext('gateway_job_engine_schema'))"))
        await connection.execute(text(f"CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} "
                                      "(version text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"))
        recorded = await connection.scalar(text(f"SELECT version FROM {SCHEMA_TABLE} ORDER BY applied_at DESC LIMIT 1"))
        has_jobs = await connection.scalar(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL"))
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        if not has_jobs:
            await raw.execute(resources.files("procrastinate.sql").joinpath("schema.sql").read_text("utf-8"))
            outcome = f"job engine schema installed (procrastinate {installed})"
        elif recorded is None:
            raise EngineUnavailable("procrastinate's tables exist but no gateway_job_engine_schema row says which "
                                    "version made them; record it: INSERT INTO gateway_job_engine_schema (version) "
                                    "VALUES ('<procrastinate version>')")
        elif Version(recorded) >= installed:
            return f"job engine schema up to date (procrastinate {recorded})"
        else:
            names = [name for version, _, name in _migrations() if Version(recorded) < version <= installed]
            for name in names:
                sql = resources.files("procrastinate.sql.migrations").joinpath(name).read_text("utf-8")
                await raw.execute(sql)
            outcome = f"job engine schema migrated {recorded} -> {installed} ({len(names)} files)"
        await connection.execute(text(f"INSERT INTO {SCHEMA_TABLE} (version) VALUES (:v)"), {"v": str(installed)})
    return outcome


async def has_engine_schema(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        return bool(await connection.scalar(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")))


# ---------------------------------------------------------------- operators: the queue
@dataclass
class Failure:
    id: int
    job: str
    attempts: int
    args: Mapping[str, Any]
    at: Any


async def queue_counts(engine: AsyncEngine) -> dict[str, dict[str, int]]:
    """``{job name: {status: count}}`` of the queue (successful jobs are deleted when they end)."""
    async with engine.connect() as connection:
        rows = await connection.execute(text(
            "SELECT task_name, status::text, count(*) FROM procrastinate_jobs GROUP BY 1, 2 ORDER BY 1, 2"))
        counts: dict[str, dict[str, int]] = {}
        for row in rows:
            counts.setdefault(str(row[0]), {})[str(row[1])] = cast(int, row[2])
        return counts


async def recent_failures(engine: AsyncEngine, limit: int = 10) -> list[Failure]:
    async with engine.connect() as connection:
        rows = await connection.execute(text(
            "SELECT j.id, j.task_name, j.attempts, j.args, max(e.at) FROM procrastinate_jobs j "
            "LEFT JOIN procrastinate_events e ON e.job_id = j.id WHERE j.status = 'failed' "
            "GROUP BY j.id ORDER BY j.id DESC LIMIT :limit"), {"limit": limit})
        return [Failure(cast(int, row[0]), str(row[1]), cast(int, row[2]),
                        row[3] if isinstance(row[3], dict) else json.loads(str(row[3] or "{}")), row[4]) for row in rows]


async def retry_failed(engine: AsyncEngine, job_id: int | None = None) -> list[int]:
    """Put failed jobs (one, or all) back in the queue to run now; returns their ids."""
    async with engine.begin() as connection:
        where = "status = 'failed'" + (" AND id = :id" if job_id is not None else "")
        ids = [row[0] for row in await connection.execute(
            text(f"SELECT id FROM procrastinate_jobs WHERE {where} ORDER BY id FOR UPDATE"),
            {"id": job_id} if job_id is not None else {})]
        for found in ids:
            await connection.execute(text("SELECT procrastinate_retry_job_v2(:id, now(), NULL, NULL, NULL)"),
                                     {"id": found})
        return ids
