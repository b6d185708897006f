"""The in-process job runner of the embedded default (SQLite): the same job definitions, inside ``gateway serve``.

One asyncio task per job definition runs it at each tick of its ``schedule`` (croniter, UTC) and
whenever :func:`gateway.jobs.request_job` nudges it after a commit; a failed run is retried with the
same exponential backoff as the worker's (``GATEWAY_JOB_RETRY_BACKOFF`` ** attempt seconds), up to
``retries``. A request's clock (``as_of``) travels in its arguments and is the run's ``now``. Runs of one
job never overlap. Nothing is kept but in memory: the durable intent lives in
the jobs' own rows, so a restart loses no work (the next tick sweeps again). For PostgreSQL
deployments with several processes, use ``gateway worker``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from croniter import croniter

from gateway.db import utcnow
from gateway.job_requests import register_runner, unregister_runner
from gateway.jobs import JobDefinition, execute, job_definitions

log = logging.getLogger("gateway.jobs")


class InProcessRunner:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.definitions = job_definitions(runtime.plugin_manager)
        self.backoff = runtime.settings.job_retry_backoff
        self._requests: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.runs: dict[str, int] = {name: 0 for name in self.definitions}

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for name, definition in self.definitions.items():
            self._requests[name] = asyncio.Queue()
            self._tasks.append(asyncio.create_task(self._serve(definition), name=f"job {name}"))
        register_runner(self.runtime.engine.sync_engine, self.nudge)
        log.info("in-process job runner started: %s", ", ".join(sorted(self.definitions)) or "no jobs")

    async def stop(self) -> None:
        unregister_runner(self.runtime.engine.sync_engine)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def nudge(self, name: str, args: dict[str, Any]) -> None:
        """Ask for a run of ``name`` with ``args`` (from any thread); unknown names are logged and dropped."""
        queue = self._requests.get(name)
        if queue is None or self._loop is None:
            log.warning("job %r was requested but no enabled plugin declares it", name)
            return
        self._loop.call_soon_threadsafe(queue.put_nowait, args)

    async def _serve(self, definition: JobDefinition) -> None:
        queue = self._requests[definition.name]
        ticks = croniter(definition.schedule, utcnow()) if definition.schedule else None
        next_tick = ticks.get_next(dt.datetime) if ticks else None
        while True:
            timeout = None if next_tick is None else max((next_tick - utcnow()).total_seconds(), 0)
            try:
                batch = [await asyncio.wait_for(queue.get(), timeout)]
            except TimeoutError:  # the schedule's tick
                batch = [{}]
                assert ticks is not None
                next_tick = ticks.get_next(dt.datetime)
                while next_tick <= utcnow():  # a slow run skipped ticks: run once, not once per tick
                    next_tick = ticks.get_next(dt.datetime)
            while not queue.empty():  # requests waiting together: one run per distinct arguments
                batch.append(queue.get_nowait())
            distinct: list[dict[str, Any]] = []
            for args in batch:
                if args not in distinct:
                    distinct.append(args)
            for args in distinct:
                await self._run(definition, args)

    async def _run(self, definition: JobDefinition, args: dict[str, Any]) -> None:
        for attempt in range(1, definition.retries + 2):
            try:
                await execute(self.runtime, definition, args=args, attempt=attempt)
                return
            except Exception:  # logged by execute; retried below
                if attempt > definition.retries:
                    log.error("job %s failed after %d attempts; its next run sweeps again", definition.name, attempt)
                    return
                await asyncio.sleep(self.backoff ** attempt)
            finally:
                self.runs[definition.name] += 1


@asynccontextmanager
async def running_jobs(runtime: Any) -> AsyncIterator[InProcessRunner | None]:
    """Run the jobs in-process while the block runs, when ``GATEWAY_JOBS_IN_PROCESS`` says so."""
    if not runtime.settings.jobs_in_process:
        yield None
        return
    runner = InProcessRunner(runtime)
    runner.start()
    try:
        yield runner
    finally:
        await runner.stop()
