"""Jobs without a queue: the registry, run_job with a clock, request_job after commit only, the in-process runner."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from click.testing import CliRunner
from jobs_demo import DemoJobs
from sqlalchemy import text

from gateway.hookspecs import hookimpl
from gateway.job_runner import InProcessRunner
from gateway.jobs import JobClash, JobContext, JobDefinition, UnknownJob, job_definitions, request_job
from gateway.metrics import JOB_METRICS
from gateway.testing import make_test_runtime, run_job


async def nothing(ctx: JobContext) -> None:
    return None


class Other:
    @hookimpl
    def gateway_jobs(self) -> list[JobDefinition]:
        return [JobDefinition("demo.record", nothing)]


class Counting:
    """A job counting its runs in memory, scheduled every second, and one only run on request."""

    def __init__(self) -> None:
        self.ticks: list[dt.datetime] = []
        self.requested: list[dict[str, object]] = []
        self.clocks: list[dt.datetime] = []

    @hookimpl
    def gateway_jobs(self) -> list[JobDefinition]:
        async def tick(ctx: JobContext) -> dict[str, int]:
            self.ticks.append(ctx.now)
            return {"ticks": 1}

        async def on_request(ctx: JobContext) -> dict[str, int]:
            self.requested.append(dict(ctx.args))
            self.clocks.append(ctx.now)
            return {}

        return [JobDefinition("count.tick", tick, schedule="* * * * * *"),  # every second (6th field: seconds)
                JobDefinition("count.request", on_request)]


def test_registry_names_both_plugins_on_a_clash():
    runtime = make_test_runtime("sqlite", extra_plugins=[("jobs_demo", DemoJobs()), ("other_jobs", Other())])
    with pytest.raises(JobClash, match="'demo.record' is declared by both plugin 'jobs_demo' and plugin 'other_jobs'"):
        job_definitions(runtime.plugin_manager)


def test_registry_collects_every_plugins_jobs():
    runtime = make_test_runtime("sqlite", extra_plugins=[("jobs_demo", DemoJobs())])
    definitions = job_definitions(runtime.plugin_manager)
    assert {"demo.record", "demo.fail", "demo.sweep", "demo.clocked"} <= set(definitions)
    assert definitions["demo.fail"].retries == 2


async def test_run_job_uses_the_given_clock_and_arguments():
    runtime = make_test_runtime("sqlite", extra_plugins=[("jobs_demo", DemoJobs())])
    counts = await run_job(runtime, "demo.clocked", now=dt.datetime(2031, 5, 1, tzinfo=dt.UTC), n=7)
    assert counts == {"year": 2031, "n": 7}
    assert (await run_job(runtime, "demo.clocked"))["year"] == dt.datetime.now(dt.UTC).year
    with pytest.raises(UnknownJob, match="no job named 'nope'; known jobs: .*demo.clocked"):
        await run_job(runtime, "nope")
    await runtime.dispose()


async def test_a_run_is_counted_in_the_job_metrics():
    runtime = make_test_runtime("sqlite", extra_plugins=[("jobs_demo", DemoJobs())])
    before = JOB_METRICS.runs.labels(job="demo.clocked", outcome="ok")._value.get()
    await run_job(runtime, "demo.clocked")
    assert JOB_METRICS.runs.labels(job="demo.clocked", outcome="ok")._value.get() == before + 1
    await runtime.dispose()


async def test_request_job_reaches_the_runner_after_commit_only():
    counting = Counting()
    runtime = make_test_runtime("sqlite", extra_plugins=[("count", counting)])
    runner = InProcessRunner(runtime)
    runner.start()
    try:
        async with runtime.sessions() as session:
            async with session.begin():
                request_job(session, "count.request", n=1)
                await asyncio.sleep(0.2)
                assert counting.requested == []  # not before the commit
            async with session.begin():
                request_job(session, "count.request", n=2)
                await session.rollback()
            try:
                async with session.begin():
                    request_job(session, "count.request", n=3)
                    raise RuntimeError("the change fails")
            except RuntimeError:
                pass
        for _ in range(50):
            if counting.requested:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert counting.requested == [{"n": 1}]  # the rolled-back requests never ran
    finally:
        await runner.stop()
        await runtime.dispose()


async def test_requests_in_one_transaction_run_once_per_distinct_arguments():
    counting = Counting()
    runtime = make_test_runtime("sqlite", extra_plugins=[("count", counting)])
    runner = InProcessRunner(runtime)
    runner.start()
    try:
        async with runtime.sessions() as session, session.begin():
            for _ in range(5):
                request_job(session, "count.request")
            request_job(session, "count.request", n=9)
        await asyncio.sleep(0.5)
        assert sorted(map(str, counting.requested)) == ["{'n': 9}", "{}"]
    finally:
        await runner.stop()
        await runtime.dispose()


async def _until(condition, seconds: float = 3.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)


async def test_a_request_carries_its_clock_to_the_run_and_not_as_an_argument():
    counting = Counting()
    runtime = make_test_runtime("sqlite", extra_plugins=[("count", counting)])
    runner = InProcessRunner(runtime)
    runner.start()
    as_of = dt.datetime(2031, 5, 1, 3, 15, tzinfo=dt.UTC)
    try:
        async with runtime.sessions() as session, session.begin():
            request_job(session, "count.request", as_of=as_of, n=1)
        await _until(lambda: counting.requested)
        assert counting.requested == [{"n": 1}] and counting.clocks == [as_of]  # the reserved _as_of is not an arg
        async with runtime.sessions() as session, session.begin():  # a naive moment is UTC; another zone converts
            request_job(session, "count.request", as_of=dt.datetime(2031, 5, 2), n=2)
            request_job(session, "count.request", as_of=dt.datetime(2031, 5, 3, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))),
                        n=3)
        await _until(lambda: len(counting.requested) == 3)
        assert counting.clocks[1:] == [dt.datetime(2031, 5, 2, tzinfo=dt.UTC), dt.datetime(2031, 5, 3, tzinfo=dt.UTC)]
        before = dt.datetime.now(dt.UTC)
        async with runtime.sessions() as session, session.begin():  # without as_of: the real time
            request_job(session, "count.request", n=4)
        await _until(lambda: len(counting.requested) == 4)
        assert counting.requested[3] == {"n": 4}
        assert before <= counting.clocks[3] <= dt.datetime.now(dt.UTC)
    finally:
        await runner.stop()
        await runtime.dispose()


async def test_requests_at_different_moments_are_different_runs():
    counting = Counting()
    runtime = make_test_runtime("sqlite", extra_plugins=[("count", counting)])
    runner = InProcessRunner(runtime)
    runner.start()
    day = dt.datetime(2031, 5, 1, tzinfo=dt.UTC)
    try:
        async with runtime.sessions() as session, session.begin():
            request_job(session, "count.request", as_of=day)
            request_job(session, "count.request", as_of=day)  # the same request: one run
            request_job(session, "count.request", as_of=day + dt.timedelta(days=1))
            request_job(session, "count.request")
        await _until(lambda: len(counting.requested) >= 3)
        await asyncio.sleep(0.3)
        assert counting.requested == [{}, {}, {}]
        real, *moved = sorted(counting.clocks)
        assert moved == [day, day + dt.timedelta(days=1)]
        assert dt.timedelta(0) <= dt.datetime.now(dt.UTC) - real < dt.timedelta(minutes=1)
    finally:
        await runner.stop()
        await runtime.dispose()


async def test_request_job_refuses_the_reserved_arguments_and_a_clock_that_is_not_a_datetime():
    runtime = make_test_runtime("sqlite")
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(TypeError, match="_as_of is reserved"):
            request_job(session, "count.request", _as_of="2031-05-01T00:00:00+00:00")
        with pytest.raises(TypeError, match="_traceparent is reserved"):
            request_job(session, "count.request", _traceparent="00-x")
        with pytest.raises(TypeError, match="as_of must be a datetime"):
            request_job(session, "count.request", as_of="2031-05-01")
    await runtime.dispose()


async def test_request_job_refuses_arguments_that_are_not_json():
    runtime = make_test_runtime("sqlite")
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(TypeError):
            request_job(session, "count.request", when=object())
    await runtime.dispose()


async def test_the_in_process_runner_runs_a_scheduled_job_on_its_ticks():
    counting = Counting()
    runtime = make_test_runtime("sqlite", extra_plugins=[("count", counting)])
    runner = InProcessRunner(runtime)
    runner.start()
    try:
        await asyncio.sleep(2.6)
    finally:
        await runner.stop()
        await runtime.dispose()
    assert 2 <= len(counting.ticks) <= 4
    assert counting.requested == []


async def test_the_in_process_runner_retries_a_failing_job_then_gives_up():
    runtime = make_test_runtime("sqlite", extra_plugins=[("jobs_demo", DemoJobs())], job_retry_backoff=1)
    async with runtime.engine.begin() as connection:
        for statement in __import__("jobs_demo").TABLES:
            await connection.execute(text(statement))
    runner = InProcessRunner(runtime)
    runner.start()
    try:
        runner.nudge("demo.fail", {})
        await asyncio.sleep(3)
        async with runtime.engine.connect() as connection:
            attempts = [row[0] for row in await connection.execute(text(
                "SELECT attempt FROM jobs_demo_runs WHERE job = 'demo.fail' ORDER BY at"))]
        assert attempts == [1, 2, 3]  # one run and its 2 retries, 1 s apart
    finally:
        await runner.stop()
        await runtime.dispose()


def test_worker_and_retry_refuse_sqlite(monkeypatch, tmp_path):
    from gateway.cli import cli

    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/x.db")
    result = CliRunner().invoke(cli, ["worker"])
    assert result.exit_code == 1 and "needs PostgreSQL" in result.output and "gateway serve" in result.output
    result = CliRunner().invoke(cli, ["jobs", "retry", "--failed"])
    assert result.exit_code == 1 and "needs PostgreSQL" in result.output
    result = CliRunner().invoke(cli, ["jobs", "defer", "subscriptions.renew", "--as-of", "2031-05-01"])
    assert result.exit_code == 1 and "needs PostgreSQL" in result.output, result.output
    assert "`gateway jobs run subscriptions.renew --as-of 2031-05-01`" in result.output


def test_jobs_list_and_run_on_sqlite(monkeypatch, tmp_path):
    from gateway.cli import cli

    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/x.db")
    result = CliRunner().invoke(cli, ["jobs", "list"])
    assert result.exit_code == 0, result.output
    assert "queue: none on SQLite" in result.output
    result = CliRunner().invoke(cli, ["jobs", "run", "no.such.job"])
    assert result.exit_code == 1 and "no job named 'no.such.job'" in result.output
    result = CliRunner().invoke(cli, ["jobs", "run", "x", "--as-of", "yesterday"])
    assert result.exit_code == 2 and "--as-of" in result.output
