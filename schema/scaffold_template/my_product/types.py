"""My product as the graph shows it: the ``MyProductAccount`` type."""

from __future__ import annotations

import datetime as dt

import strawberry

from gateway.batch import batch_field
from gateway.context import Context
from schema.organizations.types import Organization, visible_organizations

from .models import MyProductAccount as AccountRow


@strawberry.type(description="An organization's My product account.")
class MyProductAccount:
    storage_gb: int = strawberry.field(description="The storage the organization has booked, in GB.")
    updated_at: dt.datetime = strawberry.field(description="When the storage was last set.")
    organization_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: AccountRow) -> MyProductAccount:
        return cls(storage_gb=row.storage_gb, updated_at=row.updated_at, organization_pk=row.organization_id)

    @batch_field(description="The organization of this account; null when you may not see it.")
    @staticmethod
    async def organization(parents: list[MyProductAccount], ctx: Context) -> list[Organization | None]:
        # one look-up for every account of the response (parents in, results out, same order)
        return await visible_organizations(ctx, [p.organization_pk for p in parents])
