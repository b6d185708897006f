"""The vertical product plugin: the hooks the host reads (entry point ``vertical = "plugins.vertical.plugin"``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

from gateway.context import Context
from gateway.events import DomainEvent
from gateway.hookspecs import hookimpl
from plugins.vertical import hookspecs
from plugins.vertical.actions import ACTIONS
from plugins.vertical.catalog import CATALOG
from plugins.vertical.demo import seed_demo
from plugins.vertical.export import ROUTES as EXPORT_ROUTES
from plugins.vertical.grant_page import ROUTES as GRANT_ROUTES
from plugins.vertical.models import MODELS
from plugins.vertical.mutations import SolutionMutations
from plugins.vertical.outbox import Notification, OutboxQueries, visible_notifications
from plugins.vertical.queries import (
    OrganizationSolutionFields,
    SolutionQueries,
    visible_instances,
    visible_solutions,
    visible_upgrades,
    visible_versions,
)
from plugins.vertical.services.solutions import VERTICAL_PRODUCT, sync_subscription
from plugins.vertical.services.upgrades import UpgradeRunner, default_runner
from plugins.vertical.types import Solution, SolutionInstance, SolutionUpgrade, SolutionVersion
from schema.models import Product
from schema.subscriptions.events import SubscriptionEvent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession
    from starlette.routing import BaseRoute

    from gateway.demo import DemoData
    from gateway.hookspecs import NodeResolver
    from gateway.policy import Action
    from schema.catalog.declaration import ProductSpec


@hookimpl
def gateway_models() -> list[type]:
    return list(MODELS)


@hookimpl
def gateway_migrations_path() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def gateway_types() -> list[type]:
    return [Solution, SolutionVersion, SolutionInstance, SolutionUpgrade, Notification]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [SolutionQueries, OutboxQueries, OrganizationSolutionFields, SolutionMutations]


@hookimpl
def gateway_actions() -> list[Action]:
    return list(ACTIONS)


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"Solution": visible_solutions, "SolutionVersion": visible_versions, "SolutionInstance": visible_instances,
            "SolutionUpgrade": visible_upgrades, "Notification": visible_notifications}


@hookimpl
def gateway_routes() -> list[BaseRoute]:
    return [*EXPORT_ROUTES, *GRANT_ROUTES]


@hookimpl
def gateway_catalog() -> list[ProductSpec]:
    return [CATALOG]


@hookimpl(trylast=True)  # needs the core's partners, organizations and plans
async def gateway_seed_demo(session: AsyncSession, demo: DemoData) -> None:
    await seed_demo(session, demo)


@hookimpl
def gateway_add_hookspecs(pm: pluggy.PluginManager) -> None:
    pm.add_hookspecs(hookspecs)


@hookimpl(trylast=True)
def gateway_upgrade_runner() -> UpgradeRunner:
    """The default runner succeeds; a plugin answering first replaces it."""
    return default_runner


@hookimpl
async def gateway_event(ctx: Context, event: DomainEvent) -> None:
    """A VERTICAL subscription's plan and trial/paid state are copied onto the organization's instances."""
    if isinstance(event, SubscriptionEvent):
        product = await ctx.session.get(Product, event.product_id)
        if product is not None and product.code == VERTICAL_PRODUCT:
            await sync_subscription(ctx.session, event.organization_id)
