"""The running gateway: settings, plugins, database, action registry and the composed schema."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway import tracing
from gateway.auth import RoleMaps, Viewer, authenticate
from gateway.composition import build_schema
from gateway.context import Context
from gateway.db import create_engine, session_factory
from gateway.demo import is_demo_token
from gateway.errors import PluginContractError, Unauthenticated
from gateway.plugins import contributions, create_plugin_manager, maybe_await
from gateway.policy import ActionRegistry
from gateway.relay import decode_id
from gateway.settings import Settings, get_settings

log = logging.getLogger("gateway.runtime")


class Runtime:
    def __init__(self, settings: Settings | None = None, *, extra_plugins: Iterable[tuple[str, object]] = (),
                 engine: AsyncEngine | None = None) -> None:
        self.settings = settings or get_settings()
        self.plugin_manager = create_plugin_manager(self.settings.plugins, extra_plugins,
                                                    trace_hooks=self.settings.trace_hooks)
        self.engine = engine or create_engine(
            self.settings.database_url, connect_timeout=self.settings.db_connect_timeout,
            statement_timeout=self.settings.db_statement_timeout, pool_timeout=self.settings.db_pool_timeout,
        )
        tracing.configure(self.settings)  # GATEWAY_OTEL_ENABLED: once per process
        tracing.instrument_engine(self.engine)  # one span per SQL statement, when tracing is on
        self.sessions = session_factory(self.engine)
        self._connection_loop: asyncio.AbstractEventLoop | None = None
        event.listen(self.engine.sync_engine, "connect", self._remember_connection_loop)
        self.actions = ActionRegistry(self.plugin_manager.hook.gateway_suspended_refusal())
        for plugin, actions in contributions(self.plugin_manager, "gateway_actions"):
            self.actions.register(plugin, actions)
        self.node_resolvers: dict[str, Any] = {}
        for plugin, resolvers in contributions(self.plugin_manager, "gateway_node_resolvers"):
            for type_name, resolver in resolvers.items():
                if type_name in self.node_resolvers:
                    raise PluginContractError(f"plugin {plugin!r}: node type {type_name!r} already has a resolver")
                self.node_resolvers[type_name] = resolver
        self.schema = build_schema(
            type_contributions=contributions(self.plugin_manager, "gateway_types"),
            extension_contributions=contributions(self.plugin_manager, "gateway_type_extensions"),
            settings=self.settings,
        )
        # the plugins' senders replace the built-in transport of the outbox (gateway.outbox.transport_for)
        self.notification_senders = [
            sender for _, senders in contributions(self.plugin_manager, "gateway_notification_senders") for sender in senders
        ]

    @property
    def hook(self) -> Any:
        return self.plugin_manager.hook

    async def memberships(self, session: Any, user_id: int) -> RoleMaps:
        """Every plugin's ``{scope: {object pk: role}}`` answer, merged scope by scope."""
        roles: dict[str, dict[int, str]] = {}
        for answer in self.hook.gateway_viewer_memberships(session=session, user_id=user_id):
            for scope, held in (await maybe_await(answer)).items():
                roles.setdefault(scope, {}).update(held)
        return roles

    async def authenticate(self, session: Any, token: str | None) -> Viewer:
        if token is not None and self.settings.is_production and is_demo_token(token):
            # refused by shape, before any look-up: a demo database copied to production still refuses them
            raise Unauthenticated("Demo tokens are refused with GATEWAY_ENV=production; "
                                  "create a token with `gateway token create`.")
        return await authenticate(session, token, self.memberships)

    @asynccontextmanager
    async def context(self, *, token: str | None = None, viewer: Viewer | None = None,
                      request: Any = None) -> AsyncIterator[Context]:
        """A request context with its own session; authenticates ``token`` unless a viewer is given."""
        async with self.sessions() as session:
            if viewer is None:
                viewer = await self.authenticate(session, token)
                await session.commit()  # hand the connection back while the request prices and parses
            ctx = Context(runtime=self, session=session, viewer=viewer, request=request)
            try:
                yield ctx
            finally:
                if session.in_transaction():
                    await session.rollback()

    async def execute(self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None,
                      viewer: Viewer | None = None, operation_name: str | None = None) -> Any:
        """Run one GraphQL operation in a fresh context (tests, CLI)."""
        async with self.context(token=token, viewer=viewer) as ctx:
            return await self.schema.execute(query, variable_values=variables, context_value=ctx,
                                             operation_name=operation_name)

    async def resolve_nodes(self, ctx: Context, ids: list[str]) -> list[Any]:
        by_type: dict[str, list[tuple[int, int]]] = {}
        for position, global_id in enumerate(ids):
            type_name, pk = decode_id(global_id)
            by_type.setdefault(type_name, []).append((position, pk))
        results: list[Any] = [None] * len(ids)
        for type_name, wanted in by_type.items():
            resolver = self.node_resolvers.get(type_name)
            if resolver is None:
                continue
            found = await resolver(ctx, [pk for _, pk in wanted])
            for (position, _), obj in zip(wanted, found, strict=True):
                results[position] = obj
        return results

    def _remember_connection_loop(self, *_: Any) -> None:
        try:
            self._connection_loop = asyncio.get_running_loop()
        except RuntimeError:  # a synchronous connect: no loop to remember
            pass

    async def dispose(self) -> None:
        """Close the pooled connections.

        Connections opened on an event loop that is closed now (a test session's loop, an earlier
        ``asyncio.run``) cannot be closed from this one: asyncpg would raise "Event loop is closed"
        for each and SQLAlchemy print its traceback. The pool is dropped instead; the sockets go with it.
        """
        opened_on = self._connection_loop
        if opened_on is not None and opened_on is not asyncio.get_running_loop() and opened_on.is_closed():
            log.debug("disposing the engine without closing connections of a closed event loop")
            await self.engine.dispose(close=False)
        else:
            await self.engine.dispose()
        self._connection_loop = None
