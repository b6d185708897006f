"""Certificate types and inventory as the graph shows them, and ProductSubscription.certificateInventory."""

from __future__ import annotations

import enum

import strawberry
from sqlalchemy import select

from gateway.batch import batch_field
from gateway.composition import extends
from gateway.context import Context
from gateway.relay import Node, encode_id
from gateway.request_cache import ByPrimaryKey, Slot
from plugins.certificates.actions import READ_INVENTORY
from plugins.certificates.models import CertificateInventory as InventoryRow
from plugins.certificates.models import CertificateType as CertificateTypeRow
from plugins.certificates.service import CERTIFICATES_PRODUCT, inventory_rows
from schema.access import allowed_organizations
from schema.common import Money, required
from schema.models import Product
from schema.organizations.types import refusal
from schema.subscriptions.types import ProductSubscription


@strawberry.enum(description="CURRENT: usable at once, pro-rated now. RENEWAL: the inventory of the next period.")
class InventoryKind(enum.Enum):
    CURRENT = "CURRENT"
    RENEWAL = "RENEWAL"


@strawberry.type(description="A kind of certificate sold in Certificate Manager subscriptions.")
class CertificateType(Node):
    id: strawberry.ID
    code: str
    name: str
    unit_price: Money = strawberry.field(description="The price of one certificate for one year.")
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: CertificateTypeRow) -> CertificateType:
        return cls(id=strawberry.ID(encode_id("CertificateType", row.id)), code=row.code, name=row.name,
                   unit_price=Money.of(row.unit_price, row.currency), pk=row.id)


@strawberry.type(description="The inventory of one certificate type in a certificate subscription.")
class CertificateInventoryLine:
    current: int = strawberry.field(description="Certificates usable in the current period.")
    renewal: int = strawberry.field(description="Certificates the next period starts with.")
    used: int = strawberry.field(description="Certificates issued in the current period.")
    available: int = strawberry.field(description="current - used: certificates that can still be issued.")
    certificate_type_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: InventoryRow) -> CertificateInventoryLine:
        return cls(current=row.current, renewal=row.renewal, used=row.used, available=row.current - row.used,
                   certificate_type_pk=row.certificate_type_id)

    @batch_field(description="The certificate type of this line.")
    @staticmethod
    async def certificate_type(parents: list[CertificateInventoryLine],
                               ctx: Context) -> list[CertificateType | Exception]:
        found = await certificate_types_by_pk(ctx, [p.certificate_type_pk for p in parents])
        # the foreign key keeps the type; should the row be missing, that line alone fails
        return required(found, "CertificateInventoryLine.certificateType")


# Certificate types by primary key (per-request cache, order kept). The catalog is public.
certificate_types_by_pk = ByPrimaryKey("certificate_types", CertificateTypeRow, CertificateType.from_row)
# the certificates product's id (None before the catalog is seeded), read once per request
CERTIFICATES_PRODUCT_ID: Slot[int | None] = Slot("certificates_product_id", lambda: None)


async def visible_certificate_types(ctx: Context, pks: list[int]) -> list[CertificateType | None]:
    ctx.require_user()
    return await certificate_types_by_pk(ctx, pks)


async def certificates_product_id(ctx: Context) -> int | None:
    if CERTIFICATES_PRODUCT_ID not in ctx.cache:
        ctx.cache.put(CERTIFICATES_PRODUCT_ID, await ctx.session.scalar(
            select(Product.id).where(Product.code == CERTIFICATES_PRODUCT)))
    return ctx.cache.get(CERTIFICATES_PRODUCT_ID)


@extends(ProductSubscription)
class SubscriptionCertificateFields:
    @batch_field(description="Per certificate type: current, renewal and used. Null for other products.")
    @staticmethod
    async def certificate_inventory(parents: list[ProductSubscription],
                                    ctx: Context) -> list[list[CertificateInventoryLine] | None | Exception]:
        product_id = await certificates_product_id(ctx)
        certificates = [p for p in parents if p.product_pk == product_id]
        allowed = await allowed_organizations(ctx, READ_INVENTORY, {p.organization_pk for p in certificates}) \
            if certificates else set()
        rows = await inventory_rows(ctx.session, [p.pk for p in certificates if p.organization_pk in allowed])
        results: list[list[CertificateInventoryLine] | None | Exception] = []
        for parent in parents:
            if parent.product_pk != product_id:
                results.append(None)
            elif parent.organization_pk not in allowed:
                results.append(refusal(ctx, READ_INVENTORY))
            else:
                results.append([CertificateInventoryLine.from_row(row) for row in rows[parent.pk]])
        return results
