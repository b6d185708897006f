"""The notification outbox (the host's ``notifications`` table), readable by platform admins."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry
from sqlalchemy import select

from gateway.composition import Query, extends
from gateway.context import Context
from gateway.models import Notification as NotificationRow
from gateway.relay import Connection, Node, PageArgs, SortKey, encode_id, paginate
from plugins.vertical.services import grant_links
from schema.access import authorize_platform


@strawberry.enum(description="PENDING: waiting or retried at nextAttemptAt; SENT; FAILED: refused for good or out "
                             "of attempts (`gateway outbox retry` sends it again).")
class NotificationStatus(enum.Enum):
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


@strawberry.type(description="An email in the outbox; `sentAt` is set once it was delivered (job outbox.deliver).")
class Notification(Node):
    id: strawberry.ID
    to: str
    subject: str
    template: str
    body: str = strawberry.field(description="The text sent; links that act as credentials are masked here.")
    created_at: dt.datetime
    sent_at: dt.datetime | None
    status: NotificationStatus
    attempts: int
    next_attempt_at: dt.datetime | None = strawberry.field(description="When PENDING: the next attempt.")
    last_error: str | None = strawberry.field(description="The last failed attempt's error (the server's reply).")
    message_id: str = strawberry.field(description="The Message-ID header, the same on every attempt.")
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: NotificationRow) -> Notification:
        return cls(id=strawberry.ID(encode_id("Notification", row.id)), to=row.to, subject=row.subject,
                   template=row.template, body=grant_links.mask(row.body), created_at=row.created_at,
                   sent_at=row.sent_at, status=NotificationStatus(row.status), attempts=row.attempts,
                   next_attempt_at=row.next_attempt_at if row.status == "PENDING" else None,
                   last_error=row.last_error, message_id=row.message_id, pk=row.id)


@extends(Query)
class OutboxQueries:
    @strawberry.field(description="The notification outbox, newest first (platform admins).")
    async def outbox(self, info: strawberry.Info[Context, None], first: int | None = None, after: str | None = None,
                     to: str | None = None, status: NotificationStatus | None = None) -> Connection[Notification]:
        ctx: Context = info.context
        authorize_platform(ctx, "notification.read_outbox")
        stmt = select(NotificationRow)
        if to is not None:
            stmt = stmt.where(NotificationRow.to == to.strip().lower())
        if status is not None:
            stmt = stmt.where(NotificationRow.status == status.value)
        return await paginate(ctx, stmt, entity=NotificationRow, sort=[SortKey(NotificationRow.id, descending=True)],
                              page=PageArgs(first=first, after=after), to_node=Notification.from_row)


async def visible_notifications(ctx: Context, pks: list[int]) -> list[Notification | None]:
    if not ctx.viewer.is_platform_admin:
        return [None] * len(pks)
    rows = {row.id: row for row in (await ctx.session.scalars(
        select(NotificationRow).where(NotificationRow.id.in_(pks)))).all()}
    return [Notification.from_row(rows[pk]) if pk in rows else None for pk in pks]
