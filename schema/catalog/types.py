"""The catalog as the graph shows it: products, their plans and add-ons."""

from __future__ import annotations

import enum
from typing import TypeVar

import strawberry
from sqlalchemy import select

from gateway.batch import batch_field
from gateway.context import Context
from gateway.relay import Node, encode_id
from gateway.request_cache import ByPrimaryKey, Slot
from schema.common import Money, required
from schema.models import AddOn as AddOnRow
from schema.models import Plan as PlanRow
from schema.models import Product as ProductRow


@strawberry.enum
class BillingPeriod(enum.Enum):
    MONTHLY = "MONTHLY"
    YEARLY = "YEARLY"


@strawberry.enum
class AddOnBilling(enum.Enum):
    PREPAID = "PREPAID"
    POSTPAID = "POSTPAID"


@strawberry.type(description="A product line: Mail, Vertical Solutions, Desk, Certificate Manager.")
class Product(Node):
    id: strawberry.ID
    code: str
    name: str
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: ProductRow) -> Product:
        return cls(id=strawberry.ID(encode_id("Product", row.id)), code=row.code, name=row.name, pk=row.id)

    @batch_field(description="The plans of this product, cheapest first.")
    @staticmethod
    async def plans(parents: list[Product], ctx: Context) -> list[list[Plan]]:
        by_product = await _catalog_children(ctx, PLANS_OF_PRODUCT, PlanRow, [p.pk for p in parents])
        return [[Plan.from_row(row) for row in by_product.get(p.pk, [])] for p in parents]

    @batch_field(description="The add-ons of this product.")
    @staticmethod
    async def add_ons(parents: list[Product], ctx: Context) -> list[list[AddOn]]:
        by_product = await _catalog_children(ctx, ADD_ONS_OF_PRODUCT, AddOnRow, [p.pk for p in parents])
        return [[AddOn.from_row(row) for row in by_product.get(p.pk, [])] for p in parents]


@strawberry.type(description="A plan of a product: price per license and billing period.")
class Plan(Node):
    id: strawberry.ID
    code: str
    name: str
    price_per_license: Money
    billing_period: BillingPeriod
    included_storage_gb: int
    trial_days: int
    storage_price_per_gb: Money = strawberry.field(description="Price of one GB above the included storage, per period.")
    pk: strawberry.Private[int]
    product_pk: strawberry.Private[int]
    rank: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: PlanRow) -> Plan:
        return cls(
            id=strawberry.ID(encode_id("Plan", row.id)), code=row.code, name=row.name,
            price_per_license=Money.of(row.price_per_license, row.currency),
            billing_period=BillingPeriod(row.billing_period), included_storage_gb=row.included_storage_gb,
            trial_days=row.trial_days, storage_price_per_gb=Money.of(row.storage_price_per_gb, row.currency),
            pk=row.id, product_pk=row.product_id, rank=row.rank,
        )

    @batch_field(description="The product this plan belongs to.")
    @staticmethod
    async def product(parents: list[Plan], ctx: Context) -> list[Product | Exception]:
        return required(await products_by_pk(ctx, [p.product_pk for p in parents]), "Product")


@strawberry.type(description="An add-on of a product, prepaid per period or postpaid by usage.")
class AddOn(Node):
    id: strawberry.ID
    code: str
    name: str
    unit_price: Money
    billing: AddOnBilling
    unit: str
    pk: strawberry.Private[int]
    product_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: AddOnRow) -> AddOn:
        return cls(
            id=strawberry.ID(encode_id("AddOn", row.id)), code=row.code, name=row.name,
            unit_price=Money.of(row.unit_price, row.currency), billing=AddOnBilling(row.billing), unit=row.unit,
            pk=row.id, product_pk=row.product_id,
        )

    @batch_field(description="The product this add-on belongs to.")
    @staticmethod
    async def product(parents: list[AddOn], ctx: Context) -> list[Product | Exception]:
        return required(await products_by_pk(ctx, [p.product_pk for p in parents]), "Product")


# each product's plans and add-ons rows, for the length of a request
PLANS_OF_PRODUCT: Slot[dict[int, list[PlanRow]]] = Slot("plans_of_product", dict)
ADD_ONS_OF_PRODUCT: Slot[dict[int, list[AddOnRow]]] = Slot("add_ons_of_product", dict)
CatalogChild = TypeVar("CatalogChild", PlanRow, AddOnRow)


async def _catalog_children(ctx: Context, slot: Slot[dict[int, list[CatalogChild]]], model: type[CatalogChild],
                            product_pks: list[int]) -> dict[int, list[CatalogChild]]:
    cache = ctx.cache.get(slot)
    wanted = [pk for pk in dict.fromkeys(product_pks) if pk not in cache]
    if wanted:
        order = (PlanRow.rank, PlanRow.id) if model is PlanRow else (model.id,)
        for pk in wanted:
            cache[pk] = []
        for row in (await ctx.session.scalars(select(model).where(model.product_id.in_(wanted)).order_by(*order))).all():
            cache[row.product_id].append(row)
    return cache


# By primary key, per-request cached, order kept, None for missing. The catalog is public.
products_by_pk = ByPrimaryKey("products", ProductRow, Product.from_row)
plans_by_pk = ByPrimaryKey("plans", PlanRow, Plan.from_row)
add_ons_by_pk = ByPrimaryKey("add_ons", AddOnRow, AddOn.from_row)
