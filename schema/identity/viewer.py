"""``viewer``: who is asking, and their memberships."""

from __future__ import annotations

import strawberry
from sqlalchemy import select

from gateway.composition import Query, extends
from gateway.context import Context
from schema.common import OrganizationRole, PartnerRole
from schema.identity.types import User, users_by_pk
from schema.models import OrganizationMember, PartnerMember
from schema.organizations.types import Organization, organizations_by_pk
from schema.partners.types import Partner, partners_by_pk


@strawberry.type
class PartnerMembership:
    partner: Partner
    role: PartnerRole


@strawberry.type
class OrganizationMembership:
    organization: Organization
    role: OrganizationRole


@strawberry.type(description="The signed-in user and what they belong to.")
class Viewer:
    user: User
    is_platform_admin: bool
    platform_role: str | None = strawberry.field(description="ADMIN, ANALYST or MESSAGING_SERVICE for platform staff.")
    partner_memberships: list[PartnerMembership]
    organization_memberships: list[OrganizationMembership]


@extends(Query)
class ViewerQueries:
    @strawberry.field(description="The signed-in user; UNAUTHENTICATED without a token.")
    async def viewer(self, info: strawberry.Info) -> Viewer:
        ctx: Context = info.context
        viewer = ctx.require_user()
        user = (await users_by_pk(ctx, [viewer.user_id]))[0]
        partner_ids = sorted(viewer.partner_roles)
        org_ids = sorted(viewer.organization_roles)
        partners = await partners_by_pk(ctx, partner_ids)  # type: ignore[arg-type]
        organizations = await organizations_by_pk(ctx, org_ids)  # type: ignore[arg-type]
        return Viewer(
            user=user,  # type: ignore[arg-type]
            is_platform_admin=viewer.is_platform_admin,
            platform_role=viewer.platform_role,
            partner_memberships=[PartnerMembership(partner=p, role=PartnerRole(viewer.partner_roles[p.pk]))
                                 for p in partners if p is not None],
            organization_memberships=[
                OrganizationMembership(organization=o, role=OrganizationRole(viewer.organization_roles[o.pk]))
                for o in organizations if o is not None],
        )


async def viewer_memberships(session: object, user_id: int) -> tuple[dict[int, str], dict[int, str]]:
    partners = (await session.execute(  # type: ignore[attr-defined]
        select(PartnerMember.partner_id, PartnerMember.role).where(PartnerMember.user_id == user_id))).all()
    organizations = (await session.execute(  # type: ignore[attr-defined]
        select(OrganizationMember.organization_id, OrganizationMember.role).where(OrganizationMember.user_id == user_id))).all()
    return {p: r for p, r in partners}, {o: r for o, r in organizations}
