"""A test plugin with demo jobs over raw tables, and a launcher that runs the real ``gateway worker`` with it.

``python tests/jobs_demo.py worker --concurrency N`` is ``gateway worker`` with this plugin added
(the command's runtime factory is wrapped; nothing else changes). The jobs record each run in
``jobs_demo_runs`` (job, n, attempt, pid, at) so tests can count runs across processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from sqlalchemy import text

from gateway.hookspecs import hookimpl
from gateway.jobs import JobContext, JobDefinition

TABLES = [
    "CREATE TABLE IF NOT EXISTS jobs_demo_runs (job text NOT NULL, n integer, attempt integer, pid integer, "
    "at timestamp DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS jobs_demo_items (id integer PRIMARY KEY, done boolean NOT NULL DEFAULT false)",
    "CREATE TABLE IF NOT EXISTS jobs_demo_effects (item_id integer NOT NULL, pid integer)",
    "CREATE TABLE IF NOT EXISTS jobs_demo_clocks (now text NOT NULL, args text NOT NULL, pid integer)",
]
CLEAR = ["DELETE FROM jobs_demo_runs", "DELETE FROM jobs_demo_items", "DELETE FROM jobs_demo_effects",
         "DELETE FROM jobs_demo_clocks"]


async def _log_run(ctx: JobContext, job: str) -> None:
    async with ctx.runtime.sessions() as session, session.begin():
        await session.execute(text("INSERT INTO jobs_demo_runs (job, n, attempt, pid) VALUES (:j, :n, :a, :p)"),
                              {"j": job, "n": ctx.args.get("n"), "a": ctx.attempt, "p": os.getpid()})


async def record(ctx: JobContext) -> dict[str, int]:
    await asyncio.sleep(0.05)
    await _log_run(ctx, "demo.record")
    return {"recorded": 1}


async def fail(ctx: JobContext) -> dict[str, int]:
    await _log_run(ctx, "demo.fail")
    raise RuntimeError("demo failure")


async def sweep(ctx: JobContext) -> dict[str, int]:
    """An idempotent sweep: each item not done is done once, its effect written in the same transaction."""
    await _log_run(ctx, "demo.sweep")
    done = 0
    while True:
        async with ctx.runtime.sessions() as session, session.begin():
            item = await session.scalar(text(
                "SELECT id FROM jobs_demo_items WHERE NOT done ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"))
            if item is None:
                return {"done": done}
            await session.execute(text("UPDATE jobs_demo_items SET done = true WHERE id = :id"), {"id": item})
            await session.execute(text("INSERT INTO jobs_demo_effects (item_id, pid) VALUES (:id, :p)"),
                                  {"id": item, "p": os.getpid()})
        done += 1
        await asyncio.sleep(float(os.environ.get("JOBS_DEMO_SWEEP_PAUSE", "0")))


async def clocked(ctx: JobContext) -> dict[str, int]:
    return {"year": ctx.now.year, "n": int(ctx.args.get("n", 0))}


async def stamp(ctx: JobContext) -> dict[str, int]:
    """Records the clock it ran at and the arguments it saw (ISO 8601 and JSON), durably, across processes."""
    async with ctx.runtime.sessions() as session, session.begin():
        await session.execute(text("INSERT INTO jobs_demo_clocks (now, args, pid) VALUES (:now, :args, :p)"),
                              {"now": ctx.now.isoformat(), "args": json.dumps(dict(ctx.args), sort_keys=True),
                               "p": os.getpid()})
    return {"stamped": 1}


class DemoJobs:
    @hookimpl
    def gateway_jobs(self) -> list[JobDefinition]:
        return [
            JobDefinition("demo.record", record, description="records its run"),
            JobDefinition("demo.fail", fail, retries=2, description="always fails"),
            JobDefinition("demo.sweep", sweep, retries=3, description="an idempotent sweep"),
            JobDefinition("demo.clocked", clocked, description="reports its clock"),
            JobDefinition("demo.stamp", stamp, description="records its clock and arguments"),
        ]


def main(argv: list[str], extra_plugins: list[tuple[str, object]] | None = None) -> None:
    """``gateway`` with :class:`DemoJobs` (and ``extra_plugins``: another test's plugins) added to its runtime."""
    import gateway.cli_jobs
    from gateway.runtime import Runtime
    from gateway.settings import Settings

    def make_runtime(settings: Settings) -> Runtime:
        return Runtime(settings, extra_plugins=[("jobs_demo", DemoJobs()), *(extra_plugins or [])])

    gateway.cli_jobs.make_runtime = make_runtime
    from gateway.cli import main as gateway_main

    gateway_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
