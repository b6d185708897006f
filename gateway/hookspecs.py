"""The host's plugin contract.

Every hook here is called by the host (``gateway``) and speaks only of what the host knows:
storage, the GraphQL schema, requests, the action policy, HTTP, the command line, demo data
and domain events as data (:class:`gateway.events.DomainEvent`). Hooks about the business
(invoice lines, payment processors, domain verification, upgrade runners...) are declared by
the part that owns them, through :func:`gateway_add_hookspecs`, and called by that part.

The core (``schema``) registers each of its parts as its own plugin through
:func:`gateway_register_plugins`; product plugins are found by entry point. A hook may
return a value or an awaitable; the host awaits awaitables through
:func:`gateway.plugins.call_hook`. Collecting hooks return every plugin's answer;
``firstresult`` hooks stop at the first non-None answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeAlias

import pluggy

if TYPE_CHECKING:
    import click
    from sqlalchemy.ext.asyncio import AsyncSession
    from starlette.routing import BaseRoute

    from gateway.auth import RoleMaps  # the roles a user holds: ``{scope name: {object pk: role}}``
    from gateway.catalog import CatalogReport
    from gateway.context import Context
    from gateway.demo import DemoData
    from gateway.events import DomainEvent
    from gateway.jobs import JobDefinition
    from gateway.models import Notification
    from gateway.policy import Action, SuspendedRefusal

    # ``async fn(ctx, pks) -> [object or None]`` in the order of ``pks``: None when missing or not visible.
    NodeResolver = Callable[[Context, list[int]], Awaitable[Sequence[object | None]]]
    NotificationSender = Callable[[Notification], Awaitable[None] | None]
    SeedAnswer: TypeAlias = Mapping[str, int] | CatalogReport | None

hookspec = pluggy.HookspecMarker("partner_gateway")
hookimpl = pluggy.HookimplMarker("partner_gateway")


# ---------------------------------------------------------------- composing the plugins
@hookspec(historic=True)
def gateway_add_hookspecs(pm: pluggy.PluginManager) -> None:
    """Declare this plugin's own hooks with ``pm.add_hookspecs(module)`` (as pytest's ``pytest_addhooks``).

    Historic: called for every plugin as it is registered, before any of its hooks is called, so a
    plugin may implement a hook another plugin declares whatever their order.
    """


@hookspec(historic=True)
def gateway_register_plugins(pm: pluggy.PluginManager) -> None:
    """Register the plugins this plugin is made of (``pm.register(module, name=...)``), in their order.

    The core registers each of its parts this way; they answer the same hooks as any product plugin.
    """


# ---------------------------------------------------------------- schema and storage
@hookspec
def gateway_models() -> list[type]:
    """Return the SQLAlchemy model classes this plugin owns (migrations and `db upgrade` see them)."""


@hookspec
def gateway_migrations_path() -> str:
    """Return the folder of this plugin's Alembic revisions (one branch per plugin)."""


@hookspec
def gateway_types() -> list[type]:
    """Return strawberry types the schema must know that no field reaches (e.g. Node implementations)."""


@hookspec
def gateway_type_extensions() -> list[type]:
    """Return classes decorated with ``@extends(Target)``: their fields are added to Target.

    ``Target`` is ``gateway.composition.Query``, ``gateway.composition.Mutation`` or any
    type another plugin declares. A field name that another plugin already contributes fails
    the start with both plugin names.
    """


@hookspec
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    """Return ``{GraphQL type name: async fn(ctx, pks) -> list[obj | None]}`` for ``node``/``nodes``."""


# ---------------------------------------------------------------- request context
@hookspec
def gateway_viewer_memberships(session: AsyncSession, user_id: int) -> RoleMaps | Awaitable[RoleMaps]:
    """Return (or await) the viewer's role maps, ``{scope name: {object pk: role}}``; the host merges every
    plugin's answer scope by scope into ``gateway.auth.Viewer.roles``. The scope names are the answering
    part's own; it reads them back with ``Viewer.roles_in(scope)``."""


# ---------------------------------------------------------------- authorization
@hookspec
def gateway_actions() -> list[Action]:
    """Return the ``gateway.policy.Action`` declarations of this plugin: who may do what."""


@hookspec(firstresult=True)
def gateway_grant_columns() -> list[str] | None:
    """Return every grant name in the order `gateway actions` prints the access matrix; first answer wins.

    The host knows no grant vocabulary; without an answer it prints the grants the actions use, sorted.
    """


@hookspec(firstresult=True)
def gateway_suspended_refusal() -> SuspendedRefusal | None:
    """Return how a viewer whose only grants are suspended (``Grant.suspended``) is refused: the code and
    message of ``gateway.policy.SuspendedRefusal``; first answer wins (without one, a generic SUSPENDED)."""


# ---------------------------------------------------------------- HTTP, CLI, demo data
@hookspec(firstresult=True)
def gateway_graphiql_query() -> str | None:
    """Return the GraphQL document GraphiQL opens with (first answer wins; without one, ``{ __typename }``)."""


@hookspec
def gateway_routes() -> list[BaseRoute]:
    """Return Starlette routes (e.g. CSV exports) mounted beside ``/graphql``."""


@hookspec
def gateway_cli_commands() -> list[click.Command]:
    """Return click commands added to the ``gateway`` command line."""


@hookspec
def gateway_seed_catalog(
    session: AsyncSession, pm: pluggy.PluginManager, only_if_empty: bool
) -> SeedAnswer | Awaitable[SeedAnswer]:
    """Add whatever is missing of this plugin's sellable catalog (products, plans, add-ons, prices and
    product-specific price lists), idempotently and without any demo rows; existing rows are left alone.

    Return (or await to) how many rows of each kind were added, e.g. ``{"plans": 8}`` (empty when
    nothing was missing), or a ``gateway.catalog.CatalogReport`` (rows added per plugin, drift lines)
    when writing what other plugins declare (``pm``: the plugin manager, to ask them). With
    ``only_if_empty`` (``gateway db upgrade``) add nothing when the catalog already holds rows.
    Called by ``gateway catalog sync`` (allowed in production), ``gateway db upgrade`` and
    ``gateway demo seed``, in plugin order, the core first, in one transaction.
    """


@hookspec
def gateway_seed_demo(session: AsyncSession, demo: DemoData) -> Awaitable[None] | None:
    """Add this plugin's demo rows (idempotent); ``demo`` carries what earlier seeders made.

    Called in plugin order, the core first; may return an awaitable.
    """


@hookspec
def gateway_demo_roles() -> dict[str, str]:
    """Return the demo token labels this plugin's seeder hands out, each with one line on what it can do.

    ``gateway demo token LABEL`` accepts only these labels (and lists them when given another).
    """


# ---------------------------------------------------------------- delivery and events
@hookspec
def gateway_notification_senders() -> list[NotificationSender]:
    """Return senders ``fn(notification)`` (may be async) that deliver outbox notifications.

    Job ``outbox.deliver`` calls them for each due message (``gateway.outbox``); when any plugin answers,
    they replace the built-in transport (SMTP with ``GATEWAY_SMTP_URL``, else the log). A sender that
    raises fails the attempt: the message is retried with backoff (``gateway.outbox.DeliveryRefused``
    with ``permanent=True`` fails it at once), so a sender may be called again for the same message.
    """


@hookspec
def gateway_event(ctx: Context, event: DomainEvent) -> Awaitable[None] | None:
    """A domain event was emitted (``gateway.events.emit``), inside the transaction of its change.

    ``event`` is the emitting part's frozen dataclass: dispatch on its class (``isinstance``) and read
    its fields. A receiver's writes commit or roll back with the change; raising fails the change.
    Work that must wait for the commit reads ``gateway.events.committed_events`` instead.
    """


# ---------------------------------------------------------------- background jobs
@hookspec
def gateway_jobs() -> list[JobDefinition]:
    """Return the ``gateway.jobs.JobDefinition`` objects of this plugin: background work the engine runs.

    Each body is an idempotent sweep over durable rows; ``schedule`` (cron, UTC) runs it periodically,
    ``gateway.jobs.request_job`` asks for a run after a commit. A name declared by two plugins fails the
    start with both plugin names.
    """
