"""My product as the graph shows it: the ``MyProductAccount`` type, a ``Node`` that ``node(id:)`` finds."""

from __future__ import annotations

import datetime as dt

import strawberry

from gateway.batch import batch_field
from gateway.context import Context
from gateway.relay import Node, encode_id
from schema.access import allowed_organizations
from schema.organizations.types import Organization, visible_organizations

from . import service
from .actions import READ
from .models import MyProductAccount as AccountRow


@strawberry.type(description="An organization's My product account.")
class MyProductAccount(Node):
    id: strawberry.ID
    storage_gb: int = strawberry.field(description="The storage the organization has booked, in GB.")
    updated_at: dt.datetime = strawberry.field(description="When the storage was last set.")
    organization_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: AccountRow) -> MyProductAccount:
        # its global ID: encode_id(GraphQL type name, pk); decode_pk(id, "MyProductAccount") reads the pk back
        return cls(id=strawberry.ID(encode_id("MyProductAccount", row.id)), storage_gb=row.storage_gb,
                   updated_at=row.updated_at, organization_pk=row.organization_id)

    @batch_field(description="The organization of this account; null when you may not see it.")
    @staticmethod
    async def organization(parents: list[MyProductAccount], ctx: Context) -> list[Organization | None]:
        # one look-up for every account of the response (parents in, results out, same order)
        return await visible_organizations(ctx, [p.organization_pk for p in parents])


async def visible_my_product_accounts(ctx: Context, pks: list[int]) -> list[MyProductAccount | None]:
    # node(id:) / nodes(ids:): one result per pk, in order; None when missing or not READ-able (never an error)
    rows = await service.accounts_by_pk(ctx.session, pks)
    allowed = await allowed_organizations(ctx, READ, [row.organization_id for row in rows.values()])
    return [MyProductAccount.from_row(rows[pk]) if pk in rows and rows[pk].organization_id in allowed else None
            for pk in pks]
