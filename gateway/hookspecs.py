"""The plugin contract.

Every hook is called by the host (``gateway``); the core graph (``schema``) and each
product plugin implement them with ``@hookimpl``. A hook may return a value or an
awaitable; the host awaits awaitables through :func:`gateway.plugins.call_hook`.
Hooks that collect return a list of every plugin's answer; ``firstresult`` hooks stop
at the first non-None answer.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("partner_gateway")
hookimpl = pluggy.HookimplMarker("partner_gateway")


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
    type of another part (e.g. the core's ``Organization``). A field name that another
    plugin already contributes fails the start with both plugin names.
    """


@hookspec
def gateway_node_resolvers() -> dict[str, Any]:
    """Return ``{GraphQL type name: async fn(ctx, pks) -> list[obj | None]}`` for ``node``/``nodes``."""


# ---------------------------------------------------------------- request context
@hookspec
def gateway_loaders(ctx: Any) -> dict[str, Any]:
    """Return named per-request dataloaders ``{name: DataLoader}``; names must be unique across plugins."""


@hookspec
def gateway_viewer_memberships(session: Any, user_id: int) -> Any:
    """Return (or await) ``(partner_roles, organization_roles)`` dicts ``{pk: role}`` for the viewer."""


# ---------------------------------------------------------------- authorization
@hookspec
def gateway_actions() -> list[Any]:
    """Return the ``gateway.policy.Action`` declarations of this plugin: who may do what."""


# ---------------------------------------------------------------- HTTP, CLI, demo data
@hookspec
def gateway_routes() -> list[Any]:
    """Return Starlette ``Route`` objects (e.g. CSV exports) mounted beside ``/graphql``."""


@hookspec
def gateway_cli_commands() -> list[Any]:
    """Return click commands added to the ``gateway`` command line."""


@hookspec
def gateway_seed_catalog(session: Any) -> Any:
    """Add whatever is missing of this plugin's sellable catalog (products, plans, add-ons, prices and
    product-specific price lists), idempotently and without any demo rows; existing rows are left alone.

    Return (or await to) how many rows of each kind were added, e.g. ``{"plans": 8}``; empty when
    nothing was missing. Called by ``gateway catalog seed`` (allowed in production) in plugin order,
    the core first, in one transaction.
    """


@hookspec
def gateway_seed_demo(session: Any, demo: Any) -> Any:
    """Add this plugin's demo rows (idempotent); ``demo`` carries what earlier seeders made.

    Called in plugin order, the core first; may return an awaitable.
    """


@hookspec
def gateway_demo_roles() -> dict[str, str]:
    """Return the demo token labels this plugin's seeder hands out, each with one line on what it can do.

    ``gateway demo token LABEL`` accepts only these labels (and lists them when given another).
    """


# ---------------------------------------------------------------- payments and domain hooks
@hookspec(firstresult=True)
def gateway_payment_processor() -> Any:
    """Return the payment processor (``charge(token, amount, description, idempotency_key)``); first wins."""


@hookspec(firstresult=True)
def gateway_verify_domain(domain: str, expected_code: str, given_code: str) -> Any:
    """Decide whether a domain is verified (e.g. a DNS TXT check); return True/False or None to pass on."""


@hookspec
def gateway_invoice_lines(ctx: Any, organization_ids: list[int]) -> Any:
    """Return (or await) ``{organization id: [line, ...]}`` of computed lines for the upcoming invoices.

    A line is any object with ``description: str``, ``amount: Decimal``, ``currency: str``,
    ``prorated: bool`` and ``subscription_id: int | None``. Lines a plugin wants billed later
    can instead be written to the core's ``invoice_lines`` table, which the core reads itself.
    """


@hookspec(firstresult=True)
def gateway_upgrade_runner() -> Any:
    """Return the runner that performs a solution upgrade (vertical plugin); first wins."""


@hookspec
def gateway_notification_senders() -> list[Any]:
    """Return senders ``async fn(notification)`` that deliver outbox notifications after commit."""


# ---------------------------------------------------------------- domain events (after the change, same transaction)
@hookspec
def organization_created(ctx: Any, organization: Any) -> Any:
    """An organization was created (may return an awaitable)."""


@hookspec
def partner_mapping_changed(ctx: Any, organization: Any, old_partner_id: int | None, new_partner_id: int) -> Any:
    """A customer tagged a new partner."""


@hookspec
def delegated_access_revoked(ctx: Any, organization: Any, partner_id: int) -> Any:
    """A partner's delegated admin access to an organization ended (revoked by its super admin, or the
    customer tagged another partner); called in that transaction, after the organization memberships
    the partner's admins added through the delegation were removed."""


@hookspec
def subscription_changed(ctx: Any, subscription: Any, change: Any) -> Any:
    """A subscription was added, purchased, changed, suspended or enabled."""


@hookspec
def payment_recorded(ctx: Any, payment: Any) -> Any:
    """A payment was charged and recorded."""


@hookspec
def renewal_due(ctx: Any, subscription: Any, as_of: Any) -> Any:
    """A subscription's period ended and it is up for renewal."""


# ---------------------------------------------------------------- access matrix (added for `gateway actions`)
@hookspec(firstresult=True)
def gateway_grant_columns() -> list[str] | None:
    """Return every grant name in the order `gateway actions` prints the access matrix; first answer wins.

    The host knows no grant vocabulary; without an answer it prints the grants the actions use, sorted.
    """
