"""``gateway worker`` and ``gateway jobs list|run|defer|retry``: the job engine for operators."""

from __future__ import annotations

import datetime as dt
import os

import click

from gateway.cli_support import make_runtime, redact, run, settings_of

NEEDS_POSTGRES = ("needs PostgreSQL (GATEWAY_DATABASE_URL is SQLite); on SQLite `gateway serve` runs the jobs "
                  "in-process")


@click.command("worker")
@click.option("--concurrency", default=1, show_default=True, type=click.IntRange(1, 100),
              help="Jobs this process runs at the same time.")
@click.option("--name", default=None, help="A name for this worker in logs (default: host and process id).")
@click.pass_context
def worker_command(ctx: click.Context, concurrency: int, name: str | None) -> None:
    """Run background jobs from the PostgreSQL queue (run one or more per host; they share the work)."""
    from gateway.logging import configure_logging
    from gateway.worker import has_engine_schema, run_worker

    settings = settings_of(ctx)
    if settings.is_sqlite:
        raise click.ClickException(f"gateway worker {NEEDS_POSTGRES}.")
    configure_logging(settings.log_level)
    runtime = make_runtime(settings)
    if settings.worker_metrics_port:
        from prometheus_client import start_http_server

        from gateway.metrics import JOB_METRICS

        start_http_server(settings.worker_metrics_port, registry=JOB_METRICS.registry)

    async def work() -> None:
        try:
            if not await has_engine_schema(runtime.engine):
                raise click.ClickException(f"{redact(settings.database_url)} has no job queue: run `gateway db upgrade`")
            await run_worker(runtime, concurrency=concurrency, name=name or f"{os.uname().nodename}-{os.getpid()}")
        finally:
            await runtime.dispose()

    click.echo(f"worker on {redact(settings.database_url)}, concurrency {concurrency}", err=True)
    run(work())


@click.group("jobs")
def jobs_group() -> None:
    """Background jobs: what is declared, run one now, re-queue failures."""


@jobs_group.command("list")
@click.pass_context
def jobs_list(ctx: click.Context) -> None:
    """Every job of the enabled plugins with its schedule; on PostgreSQL the queue by status and recent failures."""
    from gateway.jobs import job_definitions
    from gateway.worker import has_engine_schema, queue_counts, recent_failures

    settings = settings_of(ctx)
    runtime = make_runtime(settings)
    definitions = job_definitions(runtime.plugin_manager)
    for name, definition in sorted(definitions.items()):
        schedule = definition.schedule or "on request"
        click.echo(f"{name:32} {schedule:16} retries {definition.retries}  {definition.description}".rstrip())
    if not definitions:
        click.echo("no jobs declared by the enabled plugins")

    async def queue() -> None:
        try:
            if settings.is_sqlite:
                click.echo("\nqueue: none on SQLite (jobs run inside `gateway serve`)")
                return
            if not await has_engine_schema(runtime.engine):
                click.echo("\nqueue: not installed; run `gateway db upgrade`")
                return
            counts = await queue_counts(runtime.engine)
            click.echo("\nqueue (successful jobs are removed when they end):")
            for job, by_status in counts.items():
                click.echo(f"  {job:32} " + ", ".join(f"{status} {count}" for status, count in sorted(by_status.items())))
            if not counts:
                click.echo("  empty")
            failures = await recent_failures(runtime.engine)
            if failures:
                click.echo("recent failures (`gateway jobs retry JOB_ID` or `--failed`):")
                for failure in failures:
                    click.echo(f"  #{failure.id} {failure.job} attempts {failure.attempts} at {failure.at} "
                               f"args {dict(failure.args)}")
        finally:
            await runtime.dispose()

    run(queue())


def _as_of(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("a date or time such as 2026-03-01 or 2026-03-01T03:15:00Z", param_hint="--as-of") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


@jobs_group.command("run")
@click.argument("name")
@click.option("--as-of", "as_of", help="The job's clock (ISO date or time, UTC): act as if it were then.")
@click.pass_context
def jobs_run(ctx: click.Context, name: str, as_of: str | None) -> None:
    """Run job NAME once now, in this process, and print what it did."""
    from gateway.jobs import UnknownJob, run_job_once

    settings = settings_of(ctx)
    now = _as_of(as_of)
    runtime = make_runtime(settings)

    async def once() -> dict[str, int]:
        try:
            return await run_job_once(runtime, name, now=now)
        finally:
            await runtime.dispose()

    try:
        counts = run(once())
    except UnknownJob as error:
        raise click.ClickException(str(error)) from None
    except Exception as error:
        raise click.ClickException(f"job {name} failed: {type(error).__name__}: {error}") from None
    summary = ", ".join(f"{key} {value}" for key, value in counts.items()) or "nothing to do"
    click.echo(f"{name}: {summary}")


@jobs_group.command("defer")
@click.argument("name")
@click.option("--as-of", "as_of", help="The run's clock (ISO date or time, UTC): the worker acts as if it were then.")
@click.pass_context
def jobs_defer(ctx: click.Context, name: str, as_of: str | None) -> None:
    """Queue a run of job NAME for the workers (PostgreSQL), at the real time or --as-of a moment."""
    from sqlalchemy import text

    from gateway.job_requests import AS_OF_ARG, clock_arg, queueing_lock
    from gateway.jobs import UnknownJob, definition_of, request_job
    from gateway.worker import has_engine_schema

    settings = settings_of(ctx)
    moment = _as_of(as_of)
    if settings.is_sqlite:
        hint = f"gateway jobs run {name}" + (f" --as-of {as_of}" if as_of else "")
        raise click.ClickException(f"gateway jobs defer {NEEDS_POSTGRES}; run the job now with `{hint}`.")
    runtime = make_runtime(settings)
    try:
        definition_of(runtime.plugin_manager, name)
    except UnknownJob as error:
        raise click.ClickException(str(error)) from None
    lock = queueing_lock(name, {AS_OF_ARG: clock_arg(moment)} if moment else {})

    async def defer() -> int | None:
        try:
            if not await has_engine_schema(runtime.engine):
                raise click.ClickException(f"{redact(settings.database_url)} has no job queue: run `gateway db upgrade`")
            async with runtime.sessions() as session:
                async with session.begin():
                    request_job(session, name, as_of=moment)
                async with session.begin():  # ours, or an identical request that already waited
                    found = await session.scalar(text(
                        "SELECT id FROM procrastinate_jobs WHERE queueing_lock = :lock AND status = 'todo'"),
                        {"lock": lock})
                    return None if found is None else int(found)
        finally:
            await runtime.dispose()

    job_id = run(defer())
    when = f"as of {moment.isoformat()}" if moment else "at the time it runs"
    if job_id is None:  # a worker took it already
        click.echo(f"{name} ({when}) deferred; a worker has taken it")
    else:
        click.echo(f"job #{job_id} {name} ({when}) waits in the queue for a worker")


@jobs_group.command("retry")
@click.argument("job_id", required=False, type=int)
@click.option("--failed", "all_failed", is_flag=True, help="Re-queue every failed job.")
@click.pass_context
def jobs_retry(ctx: click.Context, job_id: int | None, all_failed: bool) -> None:
    """Put a failed job (JOB_ID, from `gateway jobs list`) or every failed job back in the queue, to run now."""
    from gateway.worker import retry_failed

    if (job_id is None) == (not all_failed):
        raise click.UsageError("give a JOB_ID or --failed")
    settings = settings_of(ctx)
    if settings.is_sqlite:
        raise click.ClickException(f"gateway jobs retry {NEEDS_POSTGRES}; run the job now with `gateway jobs run NAME`.")
    runtime = make_runtime(settings)

    async def retry() -> list[int]:
        try:
            return await retry_failed(runtime.engine, job_id)
        finally:
            await runtime.dispose()

    ids = run(retry())
    if job_id is not None and not ids:
        raise click.ClickException(f"no failed job #{job_id}")
    click.echo(f"re-queued {len(ids)} job(s)" + (": " + ", ".join(f"#{i}" for i in ids) if ids else ""))
