"""The catalog part of the core, as a plugin: products, plans, add-ons."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.context import Context
from gateway.demo import DemoData
from gateway.hookspecs import hookimpl
from schema.catalog.queries import CatalogQueries
from schema.catalog.service import seed_catalog
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
def gateway_types() -> list[type]:
    return [Product, Plan, AddOn]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [CatalogQueries]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"Product": _authenticated(products_by_pk), "Plan": _authenticated(plans_by_pk),
            "AddOn": _authenticated(add_ons_by_pk)}


@hookimpl
async def gateway_seed_demo(session: AsyncSession, demo: DemoData) -> None:
    demo.extra["products"] = await seed_catalog(session)
