"""Mutations of the catalog: platform admins change list prices (changePlanPrice, changeAddOnPrice)."""

from __future__ import annotations

import strawberry

from gateway.composition import Mutation, extends
from gateway.context import Context, run_mutation
from gateway.errors import UserError
from schema.access import authorize_platform
from schema.catalog import prices
from schema.catalog.types import AddOn, Plan, PriceChange
from schema.common import MoneyInput

CHANGE_PRICE = "catalog.change_price"


@strawberry.input(description="New list prices of a plan (give one or both) and why they change.")
class ChangePlanPriceInput:
    plan_code: str
    price_per_license: MoneyInput | None = None
    storage_price_per_gb: MoneyInput | None = None
    reason: str = strawberry.field(description="Why the price changes; kept in the price history.")


@strawberry.type
class ChangePlanPricePayload:
    plan: Plan | None = None
    price_changes: list[PriceChange] = strawberry.field(
        default_factory=list, description="One change per price that changed (the plan's price history grows by these).")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="A new list price of an add-on and why it changes.")
class ChangeAddOnPriceInput:
    add_on_code: str
    unit_price: MoneyInput
    reason: str = strawberry.field(description="Why the price changes; kept in the price history.")


@strawberry.type
class ChangeAddOnPricePayload:
    add_on: AddOn | None = None
    price_changes: list[PriceChange] = strawberry.field(
        default_factory=list, description="The change recorded in the add-on's price history.")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _price(money: MoneyInput | None) -> prices.PriceInput | None:
    return prices.PriceInput(money.amount, money.currency) if money is not None else None


@extends(Mutation)
class CatalogMutations:
    @strawberry.mutation(description="Platform admins change a plan's list prices, with history. The new prices apply "
                                     "to periods that start from now on and to subscriptions moving to this plan; "
                                     "periods already charged keep their price.")
    async def change_plan_price(self, info: strawberry.Info[Context, None],
                                input: ChangePlanPriceInput) -> ChangePlanPricePayload:
        ctx: Context = info.context

        async def body() -> ChangePlanPricePayload:
            decision = authorize_platform(ctx, CHANGE_PRICE)
            plan, history = await prices.change_plan_price(
                ctx, decision, input.plan_code, price_per_license=_price(input.price_per_license),
                storage_price_per_gb=_price(input.storage_price_per_gb), reason=input.reason)
            return ChangePlanPricePayload(plan=Plan.from_row(plan), price_changes=[PriceChange.from_row(c) for c in history])

        return await run_mutation(ctx, ChangePlanPricePayload, body)

    @strawberry.mutation(description="Platform admins change an add-on's list price, with history. The new price "
                                     "applies to periods that start from now on and to the add-on added from now on; "
                                     "periods already charged keep their price.")
    async def change_add_on_price(self, info: strawberry.Info[Context, None],
                                  input: ChangeAddOnPriceInput) -> ChangeAddOnPricePayload:
        ctx: Context = info.context

        async def body() -> ChangeAddOnPricePayload:
            decision = authorize_platform(ctx, CHANGE_PRICE)
            add_on, history = await prices.change_add_on_price(ctx, decision, input.add_on_code,
                                                               unit_price=prices.PriceInput(input.unit_price.amount,
                                                                                            input.unit_price.currency),
                                                               reason=input.reason)
            return ChangeAddOnPricePayload(add_on=AddOn.from_row(add_on),
                                           price_changes=[PriceChange.from_row(c) for c in history])

        return await run_mutation(ctx, ChangeAddOnPricePayload, body)
