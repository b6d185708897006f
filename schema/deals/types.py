"""Large deals as the graph shows them, and Partner.largeDeals."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry
from sqlalchemy import select

from gateway.batch import batch_field
from gateway.composition import extends
from gateway.context import Context
from gateway.errors import UserError
from gateway.relay import Connection, Node, PageArgs, SortKey, encode_id, paginate_grouped
from schema.access import allowed_partners
from schema.common import Money, required
from schema.models import LargeDeal as LargeDealRow
from schema.organizations.types import Organization, refusal, visible_organizations
from schema.partners.types import Partner, partners_by_pk

READ_ACTION = "partner.read_deals"


@strawberry.enum
class LargeDealStatus(enum.Enum):
    SUBMITTED = "SUBMITTED"
    WON = "WON"
    LOST = "LOST"


@strawberry.type(description="A partner's estimate of a future deal for a customer.")
class LargeDeal(Node):
    id: strawberry.ID
    product_code: str
    estimated_licenses: int
    estimated_value: Money
    expected_close_date: dt.date
    notes: str | None
    status: LargeDealStatus
    submitted_at: dt.datetime
    pk: strawberry.Private[int]
    partner_pk: strawberry.Private[int]
    organization_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: LargeDealRow) -> LargeDeal:
        return cls(
            id=strawberry.ID(encode_id("LargeDeal", row.id)), product_code=row.product_code,
            estimated_licenses=row.estimated_licenses, estimated_value=Money.of(row.estimated_value, row.currency),
            expected_close_date=row.expected_close_date, notes=row.notes, status=LargeDealStatus(row.status),
            submitted_at=row.submitted_at, pk=row.id, partner_pk=row.partner_id, organization_pk=row.organization_id,
        )

    @batch_field
    @staticmethod
    async def partner(parents: list[LargeDeal], ctx: Context) -> list[Partner | Exception]:
        return required(await partners_by_pk(ctx, [p.partner_pk for p in parents]), "Partner")

    # A deal outlives its customer's mapping: once the customer tags another partner, the deal's partner may
    # no longer see it. `organization` is non-null in the API contract, so that refusal nulls the deal and
    # everything up to the nearest nullable parent; `customer` is the nullable field that keeps the deal.
    @batch_field(description="The customer of the deal.",
                 deprecation_reason="Use `customer`: it is null (with a FORBIDDEN error) when you may no longer see "
                                    "the organization, where this field nulls the deal and its list.")
    @staticmethod
    async def organization(parents: list[LargeDeal], ctx: Context) -> list[Organization | Exception]:
        return await deal_customers(parents, ctx)

    @batch_field(description="The customer of the deal; null, with a FORBIDDEN error at its path, once you may no "
                             "longer see it (e.g. it tagged another partner).")
    @staticmethod
    async def customer(parents: list[LargeDeal], ctx: Context) -> list[Organization | None | Exception]:
        return list(await deal_customers(parents, ctx))  # a copy: list is invariant, this field may also be null


async def deal_customers(parents: list[LargeDeal], ctx: Context) -> list[Organization | Exception]:
    found = await visible_organizations(ctx, [p.organization_pk for p in parents])
    return [o if o is not None else ctx.refusal("organization.read") for o in found]


@strawberry.type
class LargeDealPayload:
    large_deal: LargeDeal | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@extends(Partner)
class PartnerDealFields:
    @batch_field(description="Large deals this partner submitted, newest first.")
    @staticmethod
    async def large_deals(parents: list[Partner], ctx: Context, first: int | None = None,
                          after: str | None = None) -> list[Connection[LargeDeal] | Exception]:
        allowed = await allowed_partners(ctx, READ_ACTION, [p.pk for p in parents])
        keys = [p.pk for p in parents if p.pk in allowed]
        pages = await paginate_grouped(
            ctx, select(LargeDealRow).where(LargeDealRow.partner_id.in_(keys)), entity=LargeDealRow,
            sort=[SortKey(LargeDealRow.id, descending=True)], page=PageArgs(first=first, after=after),
            to_node=LargeDeal.from_row, group_by=LargeDealRow.partner_id, group_keys=keys,
        ) if keys else {}
        return [pages.get(p.pk) or refusal(ctx, READ_ACTION) for p in parents]


async def visible_large_deals(ctx: Context, pks: list[int]) -> list[LargeDeal | None]:
    ctx.require_user()
    rows = (await ctx.session.scalars(select(LargeDealRow).where(LargeDealRow.id.in_(pks)))).all()
    allowed = await allowed_partners(ctx, READ_ACTION, {row.partner_id for row in rows})
    by_pk = {row.id: LargeDeal.from_row(row) for row in rows if row.partner_id in allowed}
    return [by_pk.get(pk) for pk in pks]
