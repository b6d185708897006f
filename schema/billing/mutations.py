"""Billing mutations: the card on file."""

from __future__ import annotations

import strawberry

from gateway.composition import Mutation, extends
from gateway.context import Context, run_mutation
from gateway.relay import decode_pk
from schema.access import authorize_organization
from schema.billing import service
from schema.billing.types import CardBrand, PaymentMethod, PaymentMethodPayload
from schema.common import CardOwner
from schema.organizations.mutations import OrganizationInput


@strawberry.input(description="A card tokenized by the payment processor. Never send the card number or the CVV.")
class UpdatePaymentMethodInput:
    organization_id: strawberry.ID
    owner: CardOwner = strawberry.field(description="RESELLER_CARD: the reseller pays; CUSTOMER_CARD: the customer's card.")
    card_token: str = strawberry.field(description="The payment processor's token for the card: tok_ followed by 8-64 "
                                                   "letters, digits or underscores (at least one letter).")
    brand: CardBrand
    last4: str = strawberry.field(description="Exactly the last 4 digits.")
    exp_month: int
    exp_year: int
    holder_name: str | None = strawberry.field(default=None, description="The name on the card (no digits).")


@extends(Mutation)
class BillingMutations:
    @strawberry.mutation(description="Set or replace the organization's card (processor token, brand, last 4, expiry).")
    async def update_payment_method(self, info: strawberry.Info[Context, None], input: UpdatePaymentMethodInput) -> PaymentMethodPayload:
        ctx: Context = info.context
        organization_id = decode_pk(input.organization_id, "Organization")

        async def body() -> PaymentMethodPayload:
            decision = await authorize_organization(ctx, "payment_method.update", organization_id)
            row = await service.update_payment_method(
                ctx, decision, organization_id, owner=input.owner.value, card_token=input.card_token,
                brand=input.brand.value, last4=input.last4, exp_month=input.exp_month, exp_year=input.exp_year,
                holder_name=input.holder_name)
            return PaymentMethodPayload(payment_method=PaymentMethod.from_row(row))

        return await run_mutation(ctx, PaymentMethodPayload, body)

    @strawberry.mutation(description="Remove the organization's card; returns the removed card.")
    async def remove_payment_method(self, info: strawberry.Info[Context, None], input: OrganizationInput) -> PaymentMethodPayload:
        ctx: Context = info.context
        organization_id = decode_pk(input.organization_id, "Organization")

        async def body() -> PaymentMethodPayload:
            decision = await authorize_organization(ctx, "payment_method.remove", organization_id)
            row = await service.remove_payment_method(ctx, decision, organization_id)
            return PaymentMethodPayload(payment_method=PaymentMethod.from_row(row))

        return await run_mutation(ctx, PaymentMethodPayload, body)
