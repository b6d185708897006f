"""Query.products: the catalog."""

from __future__ import annotations

import strawberry
from sqlalchemy import select

from gateway.composition import Query, extends
from gateway.context import Context
from schema.catalog.types import Product, products_by_pk
from schema.models import Product as ProductRow


@extends(Query)
class CatalogQueries:
    @strawberry.field(description="Every product of the catalog with its plans and add-ons, by code.")
    async def products(self, info: strawberry.Info[Context, None]) -> list[Product]:
        ctx: Context = info.context
        ctx.require_user()
        rows = (await ctx.session.scalars(select(ProductRow).order_by(ProductRow.code))).all()
        products = [Product.from_row(row) for row in rows]
        products_by_pk.remember(ctx, ((p.pk, p) for p in products))  # Plan.product reads these
        return products
