"""``viewer``: who is asking; the memberships the authentication reads (``viewer_memberships``)."""

from __future__ import annotations

import strawberry
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth import RoleMaps
from gateway.composition import Query, extends
from gateway.context import SIGN_IN, Context
from gateway.errors import Unauthenticated
from schema.identity.types import User, users_by_pk
from schema.memberships import memberships
from schema.models import OrganizationMember, PartnerAccess, PartnerMember
from schema.models import Partner as PartnerRow


@strawberry.type(description="The signed-in user and what they belong to.")
class Viewer:
    user: User
    is_platform_admin: bool
    platform_role: str | None = strawberry.field(description="ADMIN, ANALYST or MESSAGING_SERVICE for platform staff.")
    # partnerMemberships and organizationMemberships: added by the organizations part
    # (schema/organizations/queries.py), which owns the Partner and Organization types.


@extends(Query)
class ViewerQueries:
    @strawberry.field(description="The signed-in user; UNAUTHENTICATED without a token.")
    async def viewer(self, info: strawberry.Info[Context, None]) -> Viewer:
        ctx: Context = info.context
        viewer = ctx.require_user()
        user = (await users_by_pk(ctx, [viewer.user_id]))[0]
        if user is None:  # the token's user is gone
            raise Unauthenticated(SIGN_IN)
        return Viewer(
            user=user,
            is_platform_admin=viewer.is_platform_admin,
            platform_role=viewer.platform_role,
        )


async def viewer_memberships(session: AsyncSession, user_id: int) -> RoleMaps:
    partners = (await session.execute(
        select(PartnerMember.partner_id, PartnerMember.role).where(PartnerMember.user_id == user_id))).all()
    organizations = (await session.execute(
        select(OrganizationMember.organization_id, OrganizationMember.role).where(
            OrganizationMember.user_id == user_id, _membership_in_force()))).all()
    return memberships(partners={p: r for p, r in partners}, organizations={o: r for o, r in organizations})


def _membership_in_force() -> ColumnElement[bool]:
    """A membership the customer gave is the user's own; one a partner admin added through delegated access
    (``created_via_partner_id``) is lent: it counts only while that partner's delegation is ACTIVE and the
    partner is not DISABLED. Revocation deletes such memberships; this also covers a disabled partner
    (suspended, back once enabled) and a row an add racing the revocation wrote after it."""
    lender_in_force = select(PartnerAccess.partner_id).join(PartnerRow, PartnerRow.id == PartnerAccess.partner_id).where(
        PartnerAccess.organization_id == OrganizationMember.organization_id,
        PartnerAccess.partner_id == OrganizationMember.created_via_partner_id,
        PartnerAccess.status == "ACTIVE", PartnerRow.status != "DISABLED").exists()
    return or_(OrganizationMember.created_via_partner_id.is_(None), lender_in_force)
