"""The certificates product plugin: certificate subscriptions, current and renewal inventory, renewals.

Registered by the entry point ``certificates = "plugins.certificates.plugin"``; this file
only answers the host's hooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.hookspecs import hookimpl
from plugins.certificates.actions import ACTIONS
from plugins.certificates.catalog import CATALOG, seed_certificate_types
from plugins.certificates.demo import seed_demo
from plugins.certificates.models import CertificateInventory, CertificateType
from plugins.certificates.mutations import CertificateMutations
from plugins.certificates.queries import CertificateQueries
from plugins.certificates.service import roll_renewal_inventory
from plugins.certificates.types import CertificateType as CertificateTypeNode
from plugins.certificates.types import SubscriptionCertificateFields, visible_certificate_types

if TYPE_CHECKING:
    import datetime as dt

    from sqlalchemy.ext.asyncio import AsyncSession

    from gateway.catalog import CatalogReport
    from gateway.context import Context
    from gateway.demo import DemoData
    from gateway.hookspecs import NodeResolver
    from gateway.policy import Action
    from schema.catalog.declaration import ProductSpec
    from schema.catalog.pricing import Charge
    from schema.models import Subscription


@hookimpl
def gateway_models() -> list[type]:
    return [CertificateType, CertificateInventory]


@hookimpl
def gateway_migrations_path() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def gateway_types() -> list[type]:
    return [CertificateTypeNode]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [CertificateQueries, CertificateMutations, SubscriptionCertificateFields]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"CertificateType": visible_certificate_types}


@hookimpl
def gateway_actions() -> list[Action]:
    return ACTIONS


@hookimpl
def gateway_catalog() -> list[ProductSpec]:
    return [CATALOG]


@hookimpl
async def gateway_seed_catalog(session: AsyncSession, only_if_empty: bool) -> CatalogReport:
    return await seed_certificate_types(session, only_if_empty=only_if_empty)


@hookimpl
async def gateway_seed_demo(session: AsyncSession, demo: DemoData) -> None:
    await seed_demo(session, demo)


@hookimpl
async def gateway_subscription_renewal(ctx: Context, subscription: Subscription, period_start: dt.datetime,
                                       period_end: dt.datetime) -> list[Charge]:
    """The core renews every product; a certificate subscription's renewal inventory becomes current and is charged."""
    return await roll_renewal_inventory(ctx.session, subscription, period_start, period_end)
