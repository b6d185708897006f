"""Mutations of people and tokens."""

from __future__ import annotations

import datetime as dt

import strawberry

from gateway.composition import Mutation, extends
from gateway.context import Context, run_mutation
from gateway.errors import UserError
from gateway.relay import decode_pk
from schema.access import DELEGATED_ADMIN, audit, authorize_organization, authorize_partner, record_audit
from schema.common import OrganizationRole, PartnerRole
from schema.organizations.types import OrganizationMember
from schema.people import service
from schema.people.types import ApiToken, PartnerMember


@strawberry.type
class PartnerMemberPayload:
    member: PartnerMember | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class OrganizationMemberPayload:
    member: OrganizationMember | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CreateApiTokenPayload:
    token: str | None = strawberry.field(default=None, description="The secret: shown this once, store it now.")
    api_token: ApiToken | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RevokeApiTokenPayload:
    api_token: ApiToken | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class AddPartnerMemberInput:
    partner_id: strawberry.ID
    email: str
    role: PartnerRole
    name: str | None = None


@strawberry.input
class RemovePartnerMemberInput:
    partner_id: strawberry.ID
    user_id: strawberry.ID


@strawberry.input
class AddOrganizationMemberInput:
    organization_id: strawberry.ID
    email: str
    role: OrganizationRole
    name: str | None = None


@strawberry.input
class CreateApiTokenInput:
    name: str
    expires_at: dt.datetime | None = None


@strawberry.input
class RevokeApiTokenInput:
    token_id: strawberry.ID


@extends(Mutation)
class PeopleMutations:
    @strawberry.mutation(description="Add a user (created if new) to a partner with a role.")
    async def add_partner_member(self, info: strawberry.Info[Context, None], input: AddPartnerMemberInput) -> PartnerMemberPayload:
        ctx: Context = info.context
        partner_pk = decode_pk(input.partner_id, "Partner")

        async def body() -> PartnerMemberPayload:
            decision = await authorize_partner(ctx, "partner.add_member", partner_pk)
            member = await service.add_partner_member(ctx, partner_pk, email=input.email, name=input.name,
                                                      role=input.role.value)
            audit(ctx, decision, "partner.add_member", partner_id=partner_pk,
                  details={"userId": member.user_id, "role": member.role})
            return PartnerMemberPayload(member=PartnerMember.from_row(member))

        return await run_mutation(ctx, PartnerMemberPayload, body)

    @strawberry.mutation(description="Remove a member from a partner; their access ends at once.")
    async def remove_partner_member(self, info: strawberry.Info[Context, None], input: RemovePartnerMemberInput) -> PartnerMemberPayload:
        ctx: Context = info.context
        partner_pk = decode_pk(input.partner_id, "Partner")
        user_pk = decode_pk(input.user_id, "User")

        async def body() -> PartnerMemberPayload:
            decision = await authorize_partner(ctx, "partner.remove_member", partner_pk)
            member = await service.remove_partner_member(ctx, partner_pk, user_pk)
            audit(ctx, decision, "partner.remove_member", partner_id=partner_pk,
                  details={"userId": user_pk, "role": member.role})
            return PartnerMemberPayload(member=PartnerMember.from_row(member))

        return await run_mutation(ctx, PartnerMemberPayload, body)

    @strawberry.mutation(description="Add a user (created if new) to an organization with a role.")
    async def add_organization_member(self, info: strawberry.Info[Context, None],
                                      input: AddOrganizationMemberInput) -> OrganizationMemberPayload:
        ctx: Context = info.context
        org_pk = decode_pk(input.organization_id, "Organization")

        async def body() -> OrganizationMemberPayload:
            decision = await authorize_organization(ctx, "organization.add_member", org_pk)
            if input.role is not OrganizationRole.MEMBER:  # an admin role: PARTNER_ADMIN_RESTRICTED for a partner
                await authorize_organization(ctx, "organization.add_admin_member", org_pk)
            via_partner = decision.grant.through if decision.grant.name == DELEGATED_ADMIN else None
            member = await service.add_organization_member(ctx, org_pk, email=input.email, name=input.name,
                                                           role=input.role.value, via_partner_id=via_partner)
            audit(ctx, decision, "organization.add_member", organization_id=org_pk,
                  details={"userId": member.user_id, "role": member.role, "addedByPartnerId": via_partner})
            return OrganizationMemberPayload(member=OrganizationMember.from_row(member))

        return await run_mutation(ctx, OrganizationMemberPayload, body)

    @strawberry.mutation(description="Create an API token for yourself; the token is shown once, only its hash is kept.")
    async def create_api_token(self, info: strawberry.Info[Context, None], input: CreateApiTokenInput) -> CreateApiTokenPayload:
        ctx: Context = info.context
        ctx.require_user()

        async def body() -> CreateApiTokenPayload:
            row, token = await service.create_api_token(ctx, name=input.name, expires_at=input.expires_at)
            record_audit(ctx, "token.create", via="MEMBERSHIP", details={"tokenId": row.id, "name": row.name})
            return CreateApiTokenPayload(token=token, api_token=ApiToken.from_row(row))

        return await run_mutation(ctx, CreateApiTokenPayload, body)

    @strawberry.mutation(description="Revoke one of your API tokens; it stops working at once.")
    async def revoke_api_token(self, info: strawberry.Info[Context, None], input: RevokeApiTokenInput) -> RevokeApiTokenPayload:
        ctx: Context = info.context
        ctx.require_user()
        token_pk = decode_pk(input.token_id, "ApiToken")

        async def body() -> RevokeApiTokenPayload:
            row = await service.revoke_api_token(ctx, token_pk)
            record_audit(ctx, "token.revoke", via="PLATFORM" if row.user_id != ctx.viewer.user_id else "MEMBERSHIP",
                      details={"tokenId": row.id, "userId": row.user_id})
            return RevokeApiTokenPayload(api_token=ApiToken.from_row(row))

        return await run_mutation(ctx, RevokeApiTokenPayload, body)
