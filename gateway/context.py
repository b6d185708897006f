"""The per-request context: viewer, database session, dataloaders, outbox."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pluggy
from aiodataloader import DataLoader
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.auth import Viewer
from gateway.batch import BatchFn, make_batch_loader
from gateway.db import SerializedSession
from gateway.errors import DomainError, Forbidden, Unauthenticated, UserError
from gateway.models import IdempotencyKey, Notification
from gateway.outbox import enqueue
from gateway.policy import ActionRegistry
from gateway.request_cache import RequestCache, Slot
from gateway.settings import Settings

log = logging.getLogger("gateway.context")
SIGN_IN = "Sign in: send 'Authorization: Bearer <token>'."
# The actions a batch reader refused only because the viewer's grants that would allow them are
# suspended (``Grant.suspended``; the access layer records them), so the per-parent refusal can say why.
SUSPENDED_REFUSALS: Slot[set[str]] = Slot("suspended_refusals", set)
P = TypeVar("P")


class Host(Protocol):
    """What a request needs of the running gateway (``gateway.runtime.Runtime`` is the one host).

    Declared here, below the runtime, so the context never imports the module that builds the
    schema: ``runtime -> composition -> relay -> context`` stays one way.
    """

    settings: Settings
    plugin_manager: pluggy.PluginManager
    actions: ActionRegistry

    async def resolve_nodes(self, ctx: Context, ids: list[str]) -> list[Any]: ...


class RetryMutation(Exception):
    """A concurrent request claimed the same idempotency key first; run again to replay its result."""


@dataclass
class Context:
    runtime: Host
    session: SerializedSession
    viewer: Viewer
    request: Any = None
    cost: dict[str, Any] = field(default_factory=dict)
    _batch_loaders: dict[Any, DataLoader[Any, Any]] = field(default_factory=dict)
    _after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    cache: RequestCache = field(default_factory=RequestCache)
    # errors of fields refused but resolved to an empty list or connection (gateway/refusals.py)
    refused_fields: list[Any] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def hooks(self) -> pluggy.HookRelay:
        return self.runtime.plugin_manager.hook

    @property
    def actions(self) -> ActionRegistry:
        return self.runtime.actions

    async def batch_load(self, fn: BatchFn[Any, ..., Any], parent: object, kwargs: dict[str, Any]) -> Any:
        key = (fn, repr(sorted(kwargs.items())))
        loader = self._batch_loaders.get(key)
        if loader is None:
            loader = self._batch_loaders[key] = make_batch_loader(fn, self, kwargs)
        return await loader.load(parent)

    def require_user(self) -> Viewer:
        if not self.viewer.is_authenticated:
            raise Unauthenticated(SIGN_IN)
        return self.viewer

    def refusal(self, action: str, reason: str | None = None) -> Exception:
        """The error for a refused ``action`` (UNAUTHENTICATED when anonymous), for one parent of a batch."""
        if not self.viewer.is_authenticated:
            return Unauthenticated(SIGN_IN)
        if action in (self.cache.peek(SUSPENDED_REFUSALS) or ()):
            # A batch reader found that only suspended grants would have allowed it: say so.
            return self.actions.suspended_refusal(action, reading=True)
        message = f"You are not allowed to {self.actions[action].description}."
        return Forbidden(f"{message} {reason}" if reason else message, action=action)

    # ------------------------------------------------------------ writes
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SerializedSession]:
        """One mutation, one transaction; caches are dropped after commit so payloads read fresh rows."""
        if self.session.in_transaction():
            await self.session.commit()
        self._after_commit.clear()
        try:
            async with self.session.begin():
                yield self.session
        finally:
            # Commit or rollback, the session's objects are expired: cached ones must be read again.
            self._batch_loaders.clear()
            self.cache.clear()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            try:
                await callback()
            except Exception:  # delivery failures never undo a committed mutation
                log.exception("after-commit callback failed")

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._after_commit.append(callback)

    def notify(self, *, to: str, subject: str, template: str, body: str) -> Notification:
        """Put an email in the outbox (same transaction) and ask for job ``outbox.deliver`` after the commit.

        Nothing is sent when the transaction rolls back. The job sends it over SMTP with retries
        (``gateway.outbox``); its ``message_id`` is fixed here, so a copy sent twice can be told apart.
        """
        return enqueue(self.session, self.settings, to=to, subject=subject, template=template, body=body)

    async def claim_idempotency_key(self, scope: str, key: str, request: dict[str, Any]) -> IdempotencyKey | dict[str, Any]:
        """Claim ``key`` in ``scope`` for this transaction, or return the stored result of its first use.

        The same key with a different request is a user error. A concurrent first use makes
        this transaction fail on the unique constraint; ``run_mutation`` runs it again, and
        the second run replays.
        """
        if not key or len(key) > 200:
            raise DomainError("INVALID_IDEMPOTENCY_KEY", "idempotencyKey must be 1 to 200 characters", "idempotencyKey")
        fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
        existing = await self.session.scalar(
            select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        )
        if existing is not None:
            if existing.request_hash != fingerprint:
                raise DomainError(
                    "IDEMPOTENCY_KEY_REUSED",
                    "This idempotencyKey was already used for a different request; use a new key.",
                    "idempotencyKey",
                )
            return dict(existing.result)
        row = IdempotencyKey(scope=scope, key=key, request_hash=fingerprint, result={})
        self.session.add(row)
        try:
            await self.session.flush()
        except IntegrityError:
            raise RetryMutation() from None
        return row


async def run_mutation(ctx: Context, payload_cls: Callable[..., P], body: Callable[[], Awaitable[P]]) -> P:
    """Run ``body`` in one transaction; a DomainError rolls it back and becomes the payload's userErrors.

    ``payload_cls`` is the payload type (every one has a ``user_errors`` field); typed as a callable
    because a type variable cannot say which fields its class has."""
    for attempt in range(3):
        try:
            async with ctx.transaction():
                return await body()
        except DomainError as error:
            return payload_cls(user_errors=[UserError.from_domain(error)])
        except RetryMutation:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
