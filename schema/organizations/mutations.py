"""Mutations of organizations: create, verify, edit, tag a partner, grant and revoke delegated access."""

from __future__ import annotations

import strawberry

from gateway.composition import Mutation, extends
from gateway.context import Context, run_mutation
from gateway.errors import DomainError, UserError
from gateway.relay import decode_pk
from schema.access import audit, authorize_organization, authorize_partner, forget_access
from schema.common import AddressInput
from schema.models import Organization as OrganizationRow
from schema.models import Partner as PartnerRow
from schema.organizations import service
from schema.organizations.types import Organization


@strawberry.type
class OrganizationPayload:
    organization: Organization | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class CreateOrganizationInput:
    partner_id: strawberry.ID
    name: str
    domain: str
    super_admin_email: str
    super_admin_name: str | None = None
    address: AddressInput | None = None


@strawberry.input
class VerifyDomainInput:
    organization_id: strawberry.ID
    verification_code: str


@strawberry.input
class UpdateOrganizationDetailsInput:
    organization_id: strawberry.ID
    name: str | None = None
    address: AddressInput | None = None


@strawberry.input
class TagPartnerInput:
    organization_id: strawberry.ID
    partner_code: str


@strawberry.input
class OrganizationInput:
    organization_id: strawberry.ID


@strawberry.input
class GrantPartnerAccessInput:
    organization_id: strawberry.ID
    partner_id: strawberry.ID


def _payload(row: OrganizationRow) -> OrganizationPayload:
    return OrganizationPayload(organization=Organization.from_row(row))


@extends(Mutation)
class OrganizationMutations:
    @strawberry.mutation(description="A partner admin creates a customer organization; the partner becomes its "
                                     "mapped partner and delegated admin, and its super admin user is created.")
    async def create_organization(self, info: strawberry.Info[Context, None], input: CreateOrganizationInput) -> OrganizationPayload:
        ctx: Context = info.context
        partner_pk = decode_pk(input.partner_id, "Partner")

        async def body() -> OrganizationPayload:
            decision = await authorize_partner(ctx, "organization.create", partner_pk)
            partner: PartnerRow | None = await ctx.session.get(PartnerRow, partner_pk)
            if partner is None:  # authorize_partner found it (NotFound otherwise): only a concurrent delete gets here
                raise DomainError("UNKNOWN_PARTNER", "No partner has that ID.", "partnerId")
            organization = await service.create_organization(
                ctx, partner, name=input.name, domain=input.domain, address=input.address,
                super_admin_email=input.super_admin_email, super_admin_name=input.super_admin_name)
            audit(ctx, decision, "organization.create", organization_id=organization.id, partner_id=partner_pk,
                  details={"name": organization.name, "domain": organization.domain,
                           "superAdminEmail": input.super_admin_email.strip().lower()})
            return _payload(organization)

        return await run_mutation(ctx, OrganizationPayload, body)

    @strawberry.mutation(description="Verify the organization's domain with the code from domainVerificationCode.")
    async def verify_domain(self, info: strawberry.Info[Context, None], input: VerifyDomainInput) -> OrganizationPayload:
        ctx: Context = info.context
        org_pk = decode_pk(input.organization_id, "Organization")

        async def body() -> OrganizationPayload:
            decision = await authorize_organization(ctx, "organization.verify_domain", org_pk)
            organization = await service.load_organization(ctx, org_pk, for_update=True)
            await service.verify_domain(ctx, organization, input.verification_code)
            audit(ctx, decision, "organization.verify_domain", organization_id=org_pk,
                  details={"domain": organization.domain})
            return _payload(organization)

        return await run_mutation(ctx, OrganizationPayload, body)

    @strawberry.mutation(description="Edit the company name or address (the organization's or its partner's admins).")
    async def update_organization_details(self, info: strawberry.Info[Context, None],
                                          input: UpdateOrganizationDetailsInput) -> OrganizationPayload:
        ctx: Context = info.context
        org_pk = decode_pk(input.organization_id, "Organization")

        async def body() -> OrganizationPayload:
            decision = await authorize_organization(ctx, "organization.update_details", org_pk)
            organization = await service.load_organization(ctx, org_pk, for_update=True)
            changed = await service.update_details(organization, name=input.name, address=input.address)
            audit(ctx, decision, "organization.update_details", organization_id=org_pk, details=changed)
            return _payload(organization)

        return await run_mutation(ctx, OrganizationPayload, body)

    @strawberry.mutation(description="The organization's super admin tags a partner by its code; "
                                     "it replaces the current mapping (the history keeps both).")
    async def tag_partner(self, info: strawberry.Info[Context, None], input: TagPartnerInput) -> OrganizationPayload:
        ctx: Context = info.context
        org_pk = decode_pk(input.organization_id, "Organization")

        async def body() -> OrganizationPayload:
            decision = await authorize_organization(ctx, "organization.tag_partner", org_pk)
            organization = await service.load_organization(ctx, org_pk, for_update=True)
            old, partner = await service.tag_partner(ctx, organization, input.partner_code, via=decision.via)
            audit(ctx, decision, "organization.tag_partner", organization_id=org_pk,
                  details={"partnerCode": partner.code, "oldPartnerId": old, "newPartnerId": partner.id})
            forget_access(ctx)
            return _payload(organization)

        return await run_mutation(ctx, OrganizationPayload, body)

    @strawberry.mutation(description="The organization's super admin revokes every partner's delegated admin access.")
    async def revoke_partner_access(self, info: strawberry.Info[Context, None], input: OrganizationInput) -> OrganizationPayload:
        ctx: Context = info.context
        org_pk = decode_pk(input.organization_id, "Organization")

        async def body() -> OrganizationPayload:
            decision = await authorize_organization(ctx, "organization.revoke_partner_access", org_pk)
            organization = await service.load_organization(ctx, org_pk, for_update=True)
            revoked = await service.revoke_partner_access(ctx, organization, via=decision.via)
            audit(ctx, decision, "organization.revoke_partner_access", organization_id=org_pk,
                  details={"partnerIds": revoked})
            forget_access(ctx)
            return _payload(organization)

        return await run_mutation(ctx, OrganizationPayload, body)

    @strawberry.mutation(description="The organization's super admin grants a partner delegated admin access.")
    async def grant_partner_access(self, info: strawberry.Info[Context, None], input: GrantPartnerAccessInput) -> OrganizationPayload:
        ctx: Context = info.context
        org_pk = decode_pk(input.organization_id, "Organization")
        partner_pk = decode_pk(input.partner_id, "Partner")

        async def body() -> OrganizationPayload:
            decision = await authorize_organization(ctx, "organization.grant_partner_access", org_pk)
            organization = await service.load_organization(ctx, org_pk, for_update=True)
            await service.grant_partner_access(ctx, organization, partner_pk)
            audit(ctx, decision, "organization.grant_partner_access", organization_id=org_pk,
                  partner_id=partner_pk, details={"partnerId": partner_pk})
            forget_access(ctx)
            return _payload(organization)

        return await run_mutation(ctx, OrganizationPayload, body)
