"""The catalog as the graph shows it: products, their plans and add-ons."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import TypeVar

import strawberry
from sqlalchemy import select

from gateway.batch import batch_field
from gateway.context import Context
from gateway.errors import GatewayError
from gateway.relay import Node, encode_id
from gateway.request_cache import ByPrimaryKey, Slot
from schema.access import authorize_platform
from schema.common import Money, required
from schema.identity.types import User, users_by_pk
from schema.models import AddOn as AddOnRow
from schema.models import CatalogPriceChange as PriceChangeRow
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


READ_PRICE_CHANGE_DETAILS = "catalog.read_price_change_details"


def price(amount: Decimal, currency: str) -> Money:
    """A list price: to the cent like every amount ("4.00"), or with its 4 decimals when it has them ("0.0025")."""
    cents = Money.of(amount, currency)
    return cents if cents.amount == amount else Money(amount=amount.normalize(), currency=currency)


@strawberry.enum(description="Which list price a price change is about.")
class PriceField(enum.Enum):
    PRICE_PER_LICENSE = "PRICE_PER_LICENSE"
    STORAGE_PRICE_PER_GB = "STORAGE_PRICE_PER_GB"
    UNIT_PRICE = "UNIT_PRICE"


def _details_refusal(ctx: Context) -> Exception | None:
    """Who changed a price and why is for platform staff; None when the viewer may see it."""
    try:
        authorize_platform(ctx, READ_PRICE_CHANGE_DETAILS)
    except GatewayError:
        return ctx.refusal(READ_PRICE_CHANGE_DETAILS)
    return None


@strawberry.type(description="One change of a list price, visible to every signed-in viewer. It applies to billing "
                             "periods that start from effectiveAt on; a period already charged keeps its price.")
class PriceChange:
    field: PriceField
    previous_amount: Money
    new_amount: Money
    effective_at: dt.datetime
    pk: strawberry.Private[int]
    reason_text: strawberry.Private[str]
    changed_by_pk: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: PriceChangeRow) -> PriceChange:
        return cls(field=PriceField(row.field), previous_amount=price(row.previous_amount, row.currency),
                   new_amount=price(row.new_amount, row.currency), effective_at=row.effective_at, pk=row.id,
                   reason_text=row.reason, changed_by_pk=row.changed_by_user_id)

    @strawberry.field(description="Why the price changed. Platform staff only: null with a FORBIDDEN error for others.")
    def reason(self, info: strawberry.Info[Context, None]) -> str | None:
        refused = _details_refusal(info.context)
        if refused is not None:
            raise refused
        return self.reason_text

    @batch_field(description="Who changed the price. Platform staff only: null with a FORBIDDEN error for others.")
    @staticmethod
    async def changed_by(parents: list[PriceChange], ctx: Context) -> list[User | None | Exception]:
        if _details_refusal(ctx) is not None:
            return [ctx.refusal(READ_PRICE_CHANGE_DETAILS) for _ in parents]
        return list(await users_by_pk(ctx, [p.changed_by_pk for p in parents]))


async def _price_history(ctx: Context, column: str, pks: list[int]) -> dict[int, list[PriceChange]]:
    """The price changes of these plans (or add-ons), newest first, in one statement."""
    ctx.require_user()
    owner = getattr(PriceChangeRow, column)
    rows = (await ctx.session.scalars(select(PriceChangeRow).where(owner.in_(list(dict.fromkeys(pks))))
                                      .order_by(PriceChangeRow.id.desc()))).all() if pks else []
    found: dict[int, list[PriceChange]] = {}
    for row in rows:
        found.setdefault(getattr(row, column), []).append(PriceChange.from_row(row))
    return found


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
            price_per_license=price(row.price_per_license, row.currency),
            billing_period=BillingPeriod(row.billing_period), included_storage_gb=row.included_storage_gb,
            trial_days=row.trial_days, storage_price_per_gb=price(row.storage_price_per_gb, row.currency),
            pk=row.id, product_pk=row.product_id, rank=row.rank,
        )

    @batch_field(description="The product this plan belongs to.")
    @staticmethod
    async def product(parents: list[Plan], ctx: Context) -> list[Product | Exception]:
        return required(await products_by_pk(ctx, [p.product_pk for p in parents]), "Product")

    @batch_field(description="The changes of this plan's list prices, newest first.")
    @staticmethod
    async def price_history(parents: list[Plan], ctx: Context) -> list[list[PriceChange]]:
        found = await _price_history(ctx, "plan_id", [p.pk for p in parents])
        return [found.get(p.pk, []) for p in parents]


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
            unit_price=price(row.unit_price, row.currency), billing=AddOnBilling(row.billing), unit=row.unit,
            pk=row.id, product_pk=row.product_id,
        )

    @batch_field(description="The product this add-on belongs to.")
    @staticmethod
    async def product(parents: list[AddOn], ctx: Context) -> list[Product | Exception]:
        return required(await products_by_pk(ctx, [p.product_pk for p in parents]), "Product")

    @batch_field(description="The changes of this add-on's list price, newest first.")
    @staticmethod
    async def price_history(parents: list[AddOn], ctx: Context) -> list[list[PriceChange]]:
        found = await _price_history(ctx, "add_on_id", [p.pk for p in parents])
        return [found.get(p.pk, []) for p in parents]


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
