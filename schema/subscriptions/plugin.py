"""The subscriptions part of the core, as a plugin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.demo import DemoData
from gateway.hookspecs import hookimpl
from gateway.jobs import JobDefinition
from schema.subscriptions import hookspecs
from schema.subscriptions.demo import seed_demo
from schema.subscriptions.mutations import SubscriptionMutations
from schema.subscriptions.queries import InvoiceLineSubscriptionField, OrganizationSubscriptionFields
from schema.subscriptions.renewals import RENEW_JOB_DEFINITION
from schema.subscriptions.types import (
    ProductSubscription,
    SubscriptionChange,
    visible_subscription_changes,
    visible_subscriptions,
)

if TYPE_CHECKING:
    from gateway.hookspecs import NodeResolver


@hookimpl
def gateway_add_hookspecs(pm: pluggy.PluginManager) -> None:
    pm.add_hookspecs(hookspecs)


@hookimpl
def gateway_jobs() -> list[JobDefinition]:
    return [RENEW_JOB_DEFINITION]


@hookimpl
def gateway_types() -> list[type]:
    return [ProductSubscription, SubscriptionChange]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [OrganizationSubscriptionFields, InvoiceLineSubscriptionField, SubscriptionMutations]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"ProductSubscription": visible_subscriptions, "SubscriptionChange": visible_subscription_changes}


@hookimpl
async def gateway_seed_demo(session: AsyncSession, demo: DemoData) -> None:
    await seed_demo(session, demo)
