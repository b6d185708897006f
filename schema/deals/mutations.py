"""submitLargeDeal."""

from __future__ import annotations

import datetime as dt

import strawberry

from gateway.composition import Mutation, extends
from gateway.context import Context, run_mutation
from gateway.relay import decode_pk
from schema.access import authorize_organization
from schema.common import MoneyInput
from schema.deals import service
from schema.deals.types import LargeDeal, LargeDealPayload


@strawberry.input
class SubmitLargeDealInput:
    organization_id: strawberry.ID
    product_code: str
    estimated_licenses: int
    estimated_value: MoneyInput
    expected_close_date: dt.date
    notes: str | None = None


@extends(Mutation)
class DealMutations:
    @strawberry.mutation(description="Record an estimate of a future deal for a customer (the partner's admins).")
    async def submit_large_deal(self, info: strawberry.Info[Context, None], input: SubmitLargeDealInput) -> LargeDealPayload:
        ctx: Context = info.context
        organization_id = decode_pk(input.organization_id, "Organization")

        async def body() -> LargeDealPayload:
            decision = await authorize_organization(ctx, "large_deal.submit", organization_id)
            row = await service.submit_large_deal(
                ctx, decision, organization_id, product_code=input.product_code,
                estimated_licenses=input.estimated_licenses, estimated_value=input.estimated_value.amount,
                currency=input.estimated_value.currency, expected_close_date=input.expected_close_date,
                notes=input.notes)
            return LargeDealPayload(large_deal=LargeDeal.from_row(row))

        return await run_mutation(ctx, LargeDealPayload, body)
