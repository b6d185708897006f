"""Mutations of partners: create partners and resellers, edit details, disable and enable resellers."""

from __future__ import annotations

import strawberry

from gateway.composition import Mutation, extends
from gateway.context import Context, run_mutation
from gateway.errors import UserError
from gateway.relay import decode_pk
from schema.access import audit, authorize_partner, authorize_platform, forget_access
from schema.common import AddressInput
from schema.partners import service
from schema.partners.types import Partner, PartnerKind


@strawberry.type
class PartnerPayload:
    partner: Partner | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class CreatePartnerInput:
    name: str
    kind: PartnerKind
    code: str | None = strawberry.field(default=None, description="Generated from the name when not given.")
    address: AddressInput | None = None
    parent_partner_id: strawberry.ID | None = None


@strawberry.input
class CreateResellerInput:
    parent_partner_id: strawberry.ID
    name: str
    code: str | None = None
    address: AddressInput | None = None


@strawberry.input
class UpdatePartnerDetailsInput:
    partner_id: strawberry.ID
    name: str | None = None
    address: AddressInput | None = None


@strawberry.input
class ResellerInput:
    partner_id: strawberry.ID


@extends(Mutation)
class PartnerMutations:
    @strawberry.mutation(description="Platform admins create partners of any kind.")
    async def create_partner(self, info: strawberry.Info[Context, None], input: CreatePartnerInput) -> PartnerPayload:
        ctx: Context = info.context
        parent_pk = decode_pk(input.parent_partner_id, "Partner") if input.parent_partner_id else None

        async def body() -> PartnerPayload:
            decision = authorize_platform(ctx, "partner.create")
            parent = await service.load_partner(ctx, parent_pk, "parentPartnerId") if parent_pk else None
            partner = await service.create_partner(ctx, name=input.name, code=input.code, kind=input.kind.value,
                                                   address=input.address, parent=parent)
            audit(ctx, decision, "partner.create", partner_id=partner.id,
                  details={"name": partner.name, "code": partner.code, "kind": partner.kind})
            return PartnerPayload(partner=Partner.from_row(partner))

        return await run_mutation(ctx, PartnerPayload, body)

    @strawberry.mutation(description="A distributor's admin creates a reseller under it.")
    async def create_reseller(self, info: strawberry.Info[Context, None], input: CreateResellerInput) -> PartnerPayload:
        ctx: Context = info.context
        parent_pk = decode_pk(input.parent_partner_id, "Partner")

        async def body() -> PartnerPayload:
            decision = await authorize_partner(ctx, "partner.create_reseller", parent_pk)
            parent = await service.load_partner(ctx, parent_pk, "parentPartnerId")
            partner = await service.create_partner(ctx, name=input.name, code=input.code, kind="RESELLER",
                                                   address=input.address, parent=parent)
            audit(ctx, decision, "partner.create_reseller", partner_id=partner.id,
                  details={"name": partner.name, "code": partner.code, "parentPartnerId": parent_pk})
            return PartnerPayload(partner=Partner.from_row(partner))

        return await run_mutation(ctx, PartnerPayload, body)

    @strawberry.mutation(description="Edit a partner's name or address (its admins or its distributor's admins).")
    async def update_partner_details(self, info: strawberry.Info[Context, None], input: UpdatePartnerDetailsInput) -> PartnerPayload:
        ctx: Context = info.context
        partner_pk = decode_pk(input.partner_id, "Partner")

        async def body() -> PartnerPayload:
            decision = await authorize_partner(ctx, "partner.update_details", partner_pk)
            partner = await service.load_partner(ctx, partner_pk)
            changed = await service.update_partner_details(partner, name=input.name, address=input.address)
            audit(ctx, decision, "partner.update_details", partner_id=partner_pk, details=changed)
            return PartnerPayload(partner=Partner.from_row(partner))

        return await run_mutation(ctx, PartnerPayload, body)

    @strawberry.mutation(description="A distributor disables one of its resellers: it can do nothing until enabled.")
    async def disable_reseller(self, info: strawberry.Info[Context, None], input: ResellerInput) -> PartnerPayload:
        return await _set_status(info.context, input, "DISABLED", "partner.disable_reseller")

    @strawberry.mutation(description="A distributor enables a disabled reseller again.")
    async def enable_reseller(self, info: strawberry.Info[Context, None], input: ResellerInput) -> PartnerPayload:
        return await _set_status(info.context, input, "ACTIVE", "partner.enable_reseller")


async def _set_status(ctx: Context, input: ResellerInput, status: str, action: str) -> PartnerPayload:
    partner_pk = decode_pk(input.partner_id, "Partner")

    async def body() -> PartnerPayload:
        decision = await authorize_partner(ctx, action, partner_pk)
        partner = await service.load_partner(ctx, partner_pk)
        service.set_reseller_status(partner, status)
        audit(ctx, decision, action, partner_id=partner_pk, details={"status": status})
        forget_access(ctx)
        return PartnerPayload(partner=Partner.from_row(partner))

    return await run_mutation(ctx, PartnerPayload, body)
