"""What the catalog part adds to the core plugin."""

from __future__ import annotations

from typing import Any

from schema.catalog.queries import CatalogQueries
from schema.catalog.service import seed_catalog
from schema.catalog.types import AddOn, Plan, Product, add_ons_by_pk, plans_by_pk, products_by_pk


def _authenticated(lookup: Any) -> Any:
    async def resolve(ctx: Any, pks: list[int]) -> list[Any]:
        ctx.require_user()
        return await lookup(ctx, pks)

    return resolve


async def seed_demo(session: Any, demo: Any) -> None:
    demo.extra["products"] = await seed_catalog(session)


TYPES = [Product, Plan, AddOn]
EXTENSIONS = [CatalogQueries]
NODE_RESOLVERS = {"Product": _authenticated(products_by_pk), "Plan": _authenticated(plans_by_pk),
                  "AddOn": _authenticated(add_ons_by_pk)}
