"""The core graph: one pluggy plugin per part, registered by this one.

Each part of the core (``schema/<part>/plugin.py``) answers the same hooks as a product
plugin (``gateway_types``, ``gateway_type_extensions``, ``gateway_node_resolvers``,
``gateway_seed_demo``...) and declares the hooks it owns (``gateway_add_hookspecs``).
This module, the ``core`` entry point, registers them in :data:`PARTS` order (the order
demo seeding and schema composition follow) under the names ``core.<part>``, and answers
what belongs to the core as a whole: its tables and migrations, the actions that span
parts and the access matrix's columns (the catalog part syncs the products plugins declare).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import click
import pluggy

from gateway import models as host_models
from gateway.db import Base
from gateway.hookspecs import hookimpl
from gateway.jobs import JobDefinition
from gateway.plugins import part_name
from gateway.policy import Action, SuspendedRefusal
from schema import models
from schema.actions import CORE_ACTIONS
from schema.analytics import plugin as analytics
from schema.audit import plugin as audit
from schema.billing import plugin as billing
from schema.catalog import plugin as catalog
from schema.deals import plugin as deals
from schema.events import plugin as events
from schema.identity import plugin as identity
from schema.organizations import plugin as organizations
from schema.people import plugin as people
from schema.subscriptions import plugin as subscriptions
from schema.webhooks import plugin as webhooks

PARTS: dict[str, ModuleType] = {
    "identity": identity, "organizations": organizations, "people": people, "catalog": catalog,
    "subscriptions": subscriptions, "billing": billing, "deals": deals, "audit": audit, "events": events,
    "webhooks": webhooks, "analytics": analytics,
}


@hookimpl
def gateway_register_plugins(pm: pluggy.PluginManager) -> None:
    for name, module in PARTS.items():
        pm.register(module, name=part_name("core", name))


@hookimpl
def gateway_models() -> list[type]:
    core_tables = [value for value in vars(models).values()
                   if isinstance(value, type) and issubclass(value, Base) and value is not Base]
    return [
        host_models.User, host_models.ApiToken, host_models.Notification,
        host_models.IdempotencyKey, host_models.PersistedQuery, host_models.CostBudget, *core_tables,
    ]


@hookimpl
def gateway_migrations_path() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl(tryfirst=True)  # the core's own actions head the access matrix, before its parts'
def gateway_actions() -> list[Action]:
    return list(CORE_ACTIONS)


@hookimpl
def gateway_suspended_refusal() -> SuspendedRefusal:
    from schema.access import DISABLED_PARTNER

    return DISABLED_PARTNER


@hookimpl
def gateway_grant_columns() -> list[str]:
    from schema.access import GRANT_COLUMNS

    return list(GRANT_COLUMNS)


@hookimpl
def gateway_cli_commands() -> list[click.Command]:
    from gateway.outbox_cli import outbox_group
    from schema.scaffold import plugin_group

    return [plugin_group, outbox_group]  # gateway plugin new NAME [--path DIR]; gateway outbox list|retry


@hookimpl
def gateway_jobs() -> list[JobDefinition]:
    """The host's own jobs come from here, as its tables do: the outbox's delivery (gateway.outbox)."""
    from gateway.outbox import OUTBOX_JOB

    return [OUTBOX_JOB]
