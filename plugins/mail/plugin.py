"""The mail product plugin: the hooks the host reads (entry point ``mail = "plugins.mail.plugin"``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from gateway.context import Context
from gateway.events import DomainEvent
from gateway.hookspecs import hookimpl
from plugins.mail.actions import MAIL_ACTIONS
from plugins.mail.catalog import CATALOG
from plugins.mail.demo import seed_demo
from plugins.mail.models import MODELS
from plugins.mail.mutations import MailMutations
from plugins.mail.queries import OrganizationMailField
from plugins.mail.service import set_up_mail_with_default_super_admin
from plugins.mail.types import (
    MailAlias,
    MailOrganization,
    MailPolicy,
    MailUser,
    visible_mail_aliases,
    visible_mail_policies,
    visible_mail_users,
)
from schema.models import Product
from schema.subscriptions.events import SubscriptionEvent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

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
    return [MailOrganization, MailUser, MailAlias, MailPolicy]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [OrganizationMailField, MailMutations]


@hookimpl
def gateway_actions() -> list[Action]:
    return list(MAIL_ACTIONS)


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"MailUser": visible_mail_users, "MailAlias": visible_mail_aliases, "MailPolicy": visible_mail_policies}


@hookimpl
def gateway_catalog() -> list[ProductSpec]:
    return [CATALOG]


@hookimpl
async def gateway_seed_demo(session: AsyncSession, demo: DemoData) -> None:
    await seed_demo(session, demo)


@hookimpl
async def gateway_event(ctx: Context, event: DomainEvent) -> None:
    """A live Mail subscription sets mail up for its organization (once), with a default super admin."""
    if isinstance(event, SubscriptionEvent):
        await set_up_for_subscription(ctx, event)


async def set_up_for_subscription(ctx: Context, event: SubscriptionEvent) -> None:
    if event.status in ("CANCELLED", "EXPIRED"):
        return
    code = await ctx.session.scalar(select(Product.code).where(Product.id == event.product_id))
    if code == "MAIL":
        await set_up_mail_with_default_super_admin(ctx.session, event.organization_id)
