"""``gateway outbox list|retry``: what an operator sees of the email outbox and how failed emails go out again."""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import select

from gateway.cli_support import make_runtime, run, settings_of
from gateway.models import Notification
from gateway.outbox import FAILED, PENDING, SENT, retry_failed


@click.group("outbox")
def outbox_group() -> None:
    """The email outbox: delivery status per message (job outbox.deliver sends it)."""


@outbox_group.command("list")
@click.option("--status", type=click.Choice([PENDING, SENT, FAILED], case_sensitive=False), default=None,
              help="only messages in this status (FAILED: what needs an operator)")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.pass_context
def list_command(ctx: click.Context, status: str | None, limit: int) -> None:
    """Newest first: id, status, attempts, recipient, subject, last error (never the body: links in it are secrets)."""
    runtime = make_runtime(settings_of(ctx))

    async def main() -> list[Notification]:
        try:
            stmt = select(Notification).order_by(Notification.id.desc()).limit(limit)
            if status:
                stmt = stmt.where(Notification.status == status.upper())
            async with runtime.sessions() as session:
                return list((await session.scalars(stmt)).all())
        finally:
            await runtime.dispose()

    rows = run(main())
    if not rows:
        click.echo("no messages")
    for row in rows:
        when = row.sent_at if row.status == SENT else row.next_attempt_at if row.status == PENDING else None
        line: list[Any] = [row.id, row.status, f"attempts={row.attempts}", row.to, repr(row.subject)]
        if when is not None:
            line.append(("sent " if row.status == SENT else "next ") + when.isoformat(timespec="seconds"))
        if row.last_error and row.status != SENT:
            line.append(f"error={row.last_error}")
        click.echo("  ".join(str(part) for part in line))


@outbox_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all-failed", is_flag=True, help="every FAILED message")
@click.pass_context
def retry_command(ctx: click.Context, ids: tuple[int, ...], all_failed: bool) -> None:
    """Put FAILED messages back in the queue (fresh attempts, due now); the next outbox.deliver run sends them."""
    if bool(ids) == all_failed:
        raise click.UsageError("give message ids, or --all-failed")
    runtime = make_runtime(settings_of(ctx))

    async def main() -> int:
        try:
            return await retry_failed(runtime, None if all_failed else list(ids))
        finally:
            await runtime.dispose()

    count = run(main())
    click.echo(f"{count} message(s) queued again; `gateway jobs run outbox.deliver` sends them now")
