"""The host's own tables: users, API tokens, notifications, idempotency keys, persisted queries, cost budgets."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # ADMIN, ANALYST or MESSAGING_SERVICE for the platform's own staff and services
    platform_role: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


def new_message_id(domain: str = "partner-gateway.localhost") -> str:
    """A globally unique RFC 5322 Message-ID, ``<random@domain>``: fixed when the message is queued."""
    return f"<{uuid.uuid4().hex}@{domain}>"


class Notification(Base):
    """The outbox, a delivery queue: written in the mutation's transaction, delivered by job ``outbox.deliver``.

    ``status``: PENDING (waiting, or being retried at ``next_attempt_at``), SENT (the transport accepted
    it at ``sent_at``) or FAILED (a permanent refusal, or ``GATEWAY_SMTP_MAX_ATTEMPTS`` attempts).
    ``message_id`` stays the same over retries, so a receiver can drop a copy sent twice.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    to: Mapped[str] = mapped_column(String(320), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    template: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(10), default="PENDING", server_default="PENDING")
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(300))
    message_id: Mapped[str] = mapped_column(String(255), unique=True, default=lambda: new_message_id())


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PersistedQuery(Base):
    __tablename__ = "persisted_queries"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CostBudget(Base):
    """Per-token query-cost budget shared by every worker (token bucket)."""

    __tablename__ = "cost_budgets"

    subject: Mapped[str] = mapped_column(String(100), primary_key=True)
    tokens: Mapped[float]
    updated_at: Mapped[dt.datetime]
