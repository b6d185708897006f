"""The catalog part of the core, as a plugin: products, plans, add-ons.

It declares ``gateway_catalog`` (``schema/catalog/hookspecs.py``), which product plugins answer
with their products as data, and answers the host's ``gateway_seed_catalog`` by syncing every
enabled plugin's declarations (``gateway catalog sync``, ``gateway db upgrade`` on an empty
catalog, ``gateway demo seed``). The core itself declares no product.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import pluggy
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.catalog import CatalogReport
from gateway.context import Context
from gateway.hookspecs import hookimpl
from schema.catalog import hookspecs
from schema.catalog.mutations import CatalogMutations
from schema.catalog.queries import CatalogQueries
from schema.catalog.service import catalog_is_empty, declared_catalog, sync_catalog
from schema.catalog.types import AddOn, Plan, Product, add_ons_by_pk, plans_by_pk, products_by_pk

if TYPE_CHECKING:
    from gateway.hookspecs import NodeResolver

def _authenticated(lookup: Callable[[Context, list[int]], Awaitable[Sequence[object | None]]]) -> NodeResolver:
    """The catalog is public to every signed-in viewer."""

    async def resolve(ctx: Context, pks: list[int]) -> list[object | None]:
        ctx.require_user()
        return list(await lookup(ctx, list(pks)))

    return resolve


@hookimpl
def gateway_add_hookspecs(pm: pluggy.PluginManager) -> None:
    pm.add_hookspecs(hookspecs)


@hookimpl
def gateway_types() -> list[type]:
    return [Product, Plan, AddOn]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [CatalogQueries, CatalogMutations]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"Product": _authenticated(products_by_pk), "Plan": _authenticated(plans_by_pk),
            "AddOn": _authenticated(add_ons_by_pk)}


@hookimpl
async def gateway_seed_catalog(session: AsyncSession, pm: pluggy.PluginManager, only_if_empty: bool) -> CatalogReport:
    """Every enabled plugin's declared products, plans and add-ons: what was missing is added, drift reported."""
    if only_if_empty and not await catalog_is_empty(session):
        return CatalogReport()
    result = await sync_catalog(session, declared_catalog(pm))
    return CatalogReport(added=result.added, drift=[str(drift) for drift in result.drift])
