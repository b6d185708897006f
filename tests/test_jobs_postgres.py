"""The job engine on PostgreSQL: the queue's schema, jobs deferred in the business transaction, real
``gateway worker`` processes (two sharing the work; one killed mid-job and its job retried)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jobs_demo import CLEAR, TABLES, DemoJobs
from sqlalchemy import text

from gateway.jobs import request_job
from gateway.testing import POSTGRES_ENV, make_test_runtime
from gateway.worker import apply_engine_schema, queue_counts, retry_failed

pytestmark = pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} is not set")
LAUNCHER = Path(__file__).with_name("jobs_demo.py")


@pytest.fixture
async def pg():
    runtime = make_test_runtime("postgres", extra_plugins=[("jobs_demo", DemoJobs())])
    await apply_engine_schema(runtime.engine)
    async with runtime.engine.begin() as connection:
        for statement in TABLES:
            await connection.execute(text(statement))
        for statement in CLEAR:
            await connection.execute(text(statement))
        await connection.execute(text("DELETE FROM procrastinate_periodic_defers"))
        await connection.execute(text("DELETE FROM procrastinate_jobs"))
        await connection.execute(text("DELETE FROM procrastinate_workers"))
    yield runtime
    await runtime.dispose()


def start_worker(*extra: str, **env: str) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "GATEWAY_DATABASE_URL": os.environ[POSTGRES_ENV], "GATEWAY_LOG_LEVEL": "WARNING",
                   **env}
    return subprocess.Popen([sys.executable, str(LAUNCHER), "worker", *extra], env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def cli(*args: str) -> str:
    environment = {**os.environ, "GATEWAY_DATABASE_URL": os.environ[POSTGRES_ENV]}
    done = subprocess.run([sys.executable, str(LAUNCHER), *args], env=environment, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def scalar(runtime, sql: str, **params):
    async with runtime.engine.connect() as connection:
        return await connection.scalar(text(sql), params)


async def wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.2)
    raise AssertionError("timed out")


async def test_schema_is_idempotent(pg):
    assert "up to date" in await apply_engine_schema(pg.engine)
    assert await scalar(pg, "SELECT count(*) FROM gateway_job_engine_schema") >= 1


async def test_request_job_writes_the_job_in_the_transaction(pg):
    async with pg.sessions() as session:
        async with session.begin():
            request_job(session, "demo.record", n=1)
            request_job(session, "demo.record", n=1)  # the same request twice: one job
        async with session.begin():
            request_job(session, "demo.record", n=2)
            await session.rollback()
        async with session.begin():  # a request identical to one waiting in the queue adds nothing
            request_job(session, "demo.record", n=1)
    rows = await scalar(pg, "SELECT json_agg(args ORDER BY id) FROM procrastinate_jobs WHERE task_name = 'demo.record'")
    assert rows == [{"n": 1}]


async def test_two_workers_share_the_work_without_running_a_job_twice(pg):
    async with pg.sessions() as session, session.begin():
        for n in range(50):
            request_job(session, "demo.record", n=n)
    workers = [start_worker("--concurrency", "3"), start_worker("--concurrency", "3")]
    try:
        await wait_for(lambda: _runs_at_least(pg, "demo.record", 50))
        await asyncio.sleep(1)  # a duplicate would show up now
    finally:
        for worker in workers:
            stop(worker)
    async with pg.engine.connect() as connection:
        rows = (await connection.execute(text("SELECT n, pid FROM jobs_demo_runs WHERE job = 'demo.record'"))).all()
    assert sorted(n for n, _ in rows) == list(range(50))  # each job ran exactly once
    assert len({pid for _, pid in rows}) == 2  # both workers took part
    assert (await queue_counts(pg.engine)).get("demo.record", {}) == {}  # done and removed


async def _runs_at_least(runtime, job: str, count: int) -> bool:
    return await scalar(runtime, "SELECT count(*) FROM jobs_demo_runs WHERE job = :j", j=job) >= count


async def test_a_failing_job_is_retried_with_backoff_then_fails_and_can_be_requeued(pg):
    async with pg.sessions() as session, session.begin():
        request_job(session, "demo.fail")
    worker = start_worker(GATEWAY_JOB_RETRY_BACKOFF="2")
    try:
        await wait_for(lambda: _has_status(pg, "demo.fail", "failed"), 60)
        async with pg.engine.connect() as connection:
            runs = (await connection.execute(text(
                "SELECT attempt, at FROM jobs_demo_runs WHERE job = 'demo.fail' ORDER BY at"))).all()
        assert [attempt for attempt, _ in runs] == [1, 2, 3]  # the run and its 2 retries
        gaps = [(later - earlier).total_seconds() for (_, earlier), (_, later) in zip(runs, runs[1:], strict=False)]
        assert gaps[0] >= 1.9 and gaps[1] >= 3.9  # 2 ** 1, then 2 ** 2 seconds: exponential
        listing = cli("jobs", "list")
        assert "demo.fail" in listing and "failed 1" in listing, listing
        assert "recent failures" in listing and "demo.fail attempts 3" in listing, listing
        assert "re-queued 1 job(s)" in cli("jobs", "retry", "--failed")
        assert len(await retry_failed(pg.engine)) == 0  # nothing failed any more
        await wait_for(lambda: _runs_at_least(pg, "demo.fail", 4))
    finally:
        stop(worker)


async def _has_status(runtime, job: str, status: str) -> bool:
    return bool(await scalar(runtime, "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :j AND status = :s",
                             j=job, s=status))


async def test_a_worker_killed_mid_job_the_job_is_retried_and_its_effect_happens_once(pg):
    async with pg.engine.begin() as connection:
        await connection.execute(text("INSERT INTO jobs_demo_items (id) SELECT generate_series(1, 8)"))
    async with pg.sessions() as session, session.begin():
        request_job(session, "demo.sweep")
    fast = {"GATEWAY_JOB_STALLED_SECONDS": "2", "GATEWAY_JOB_STALLED_SWEEP": "* * * * * */1"}
    first = start_worker(JOBS_DEMO_SWEEP_PAUSE="0.5", **fast)
    try:
        await wait_for(lambda: _effects_at_least(pg, 2))
        first.send_signal(signal.SIGKILL)  # mid-job: some items done, the job row left 'doing'
        first.wait()
        assert await _has_status(pg, "demo.sweep", "doing")
        killed_after = await scalar(pg, "SELECT count(*) FROM jobs_demo_effects")
        assert 2 <= killed_after < 8
        second = start_worker(**fast)
        try:
            await wait_for(lambda: _effects_at_least(pg, 8), 60)
            await asyncio.sleep(1)
        finally:
            stop(second)
    finally:
        stop(first)
    async with pg.engine.connect() as connection:
        effects = (await connection.execute(text("SELECT item_id, pid FROM jobs_demo_effects ORDER BY item_id"))).all()
        attempts = [row[0] for row in await connection.execute(text(
            "SELECT attempt FROM jobs_demo_runs WHERE job = 'demo.sweep' ORDER BY at"))]
    assert [item for item, _ in effects] == list(range(1, 9))  # every item's effect exactly once
    assert {pid for _, pid in effects} == {first.pid, second.pid}  # the retried job finished what the dead one began
    assert attempts == [1, 2]


async def _effects_at_least(runtime, count: int) -> bool:
    return await scalar(runtime, "SELECT count(*) FROM jobs_demo_effects") >= count


async def test_a_request_at_another_moment_is_another_job_row(pg):
    day = dt.datetime(2031, 5, 1, tzinfo=dt.UTC)
    async with pg.sessions() as session, session.begin():
        request_job(session, "demo.stamp", as_of=day, n=1)
        request_job(session, "demo.stamp", as_of=day + dt.timedelta(days=1), n=1)
        request_job(session, "demo.stamp", n=1)
    async with pg.sessions() as session, session.begin():  # identical to one waiting: nothing added
        request_job(session, "demo.stamp", as_of=day, n=1)
    rows = await scalar(pg, "SELECT json_agg(args ORDER BY id) FROM procrastinate_jobs WHERE task_name = 'demo.stamp'")
    assert rows == [{"n": 1, "_as_of": "2031-05-01T00:00:00+00:00"}, {"n": 1, "_as_of": "2031-05-02T00:00:00+00:00"},
                    {"n": 1}]


async def test_a_worker_runs_a_deferred_job_at_its_clock_and_the_body_does_not_see_it(pg):
    day = dt.datetime(2031, 5, 1, 3, 15, tzinfo=dt.UTC)
    async with pg.sessions() as session, session.begin():
        request_job(session, "demo.stamp", as_of=day, n=1)
        request_job(session, "demo.stamp", n=2)
    deferred = cli("jobs", "defer", "demo.stamp", "--as-of", "2032-01-02")  # the operator's way
    assert re.fullmatch(r"job #\d+ demo\.stamp \(as of 2032-01-02T00:00:00\+00:00\) waits in the queue for a worker\n",
                        deferred), deferred
    started = dt.datetime.now(dt.UTC)
    worker = start_worker()
    try:
        await wait_for(lambda: _stamps_at_least(pg, 3))
    finally:
        stop(worker)
    async with pg.engine.connect() as connection:
        stamps = {args: dt.datetime.fromisoformat(now) for now, args in await connection.execute(
            text("SELECT now, args FROM jobs_demo_clocks"))}
    assert set(stamps) == {'{"n": 1}', '{"n": 2}', "{}"}  # no _as_of among the arguments
    assert stamps['{"n": 1}'] == day
    assert stamps["{}"] == dt.datetime(2032, 1, 2, tzinfo=dt.UTC)
    assert started <= stamps['{"n": 2}'] <= dt.datetime.now(dt.UTC)  # no clock: the real time


async def _stamps_at_least(runtime, count: int) -> bool:
    return await scalar(runtime, "SELECT count(*) FROM jobs_demo_clocks") >= count


def test_jobs_defer_names_an_unknown_job():
    environment = {**os.environ, "GATEWAY_DATABASE_URL": os.environ[POSTGRES_ENV]}
    done = subprocess.run([sys.executable, str(LAUNCHER), "jobs", "defer", "no.such.job"], env=environment,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no job named 'no.such.job'" in done.stderr, done.stderr
