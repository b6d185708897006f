"""The rules of people and tokens: partner and organization members, API tokens."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from gateway.auth import get_or_create_user, issue_token
from gateway.context import SIGN_IN, Context
from gateway.db import utcnow
from gateway.errors import DomainError, Unauthenticated
from gateway.models import ApiToken, User
from schema.models import OrganizationMember, PartnerAccess, PartnerMember
from schema.organizations.service import clean_email

PARTNER_ROLES = ("PARTNER_ADMIN", "PARTNER_ANALYST", "DEVELOPER")
ORGANIZATION_ROLES = ("SUPER_ADMIN", "ADMIN", "MEMBER")


async def add_partner_member(ctx: Context, partner_id: int, *, email: str, name: str | None, role: str) -> PartnerMember:
    if role not in PARTNER_ROLES:
        raise DomainError("INVALID_ROLE", f"role must be one of {', '.join(PARTNER_ROLES)}.", "role")
    user = await get_or_create_user(ctx.session, clean_email(email), (name or "").strip() or None)
    existing = await ctx.session.scalar(select(PartnerMember).where(
        PartnerMember.partner_id == partner_id, PartnerMember.user_id == user.id))
    if existing is not None:
        raise DomainError("ALREADY_MEMBER", f"{user.email} is already a member ({existing.role}).", "email")
    member = PartnerMember(partner_id=partner_id, user_id=user.id, role=role)
    ctx.session.add(member)
    await ctx.session.flush()
    return member


async def remove_partner_member(ctx: Context, partner_id: int, user_id: int) -> PartnerMember:
    member: PartnerMember | None = await ctx.session.scalar(select(PartnerMember).where(
        PartnerMember.partner_id == partner_id, PartnerMember.user_id == user_id).with_for_update())
    if member is None:
        raise DomainError("NOT_A_MEMBER", "That user is not a member of this partner.", "userId")
    if member.role == "PARTNER_ADMIN":
        admins = await ctx.session.scalar(select(func.count()).select_from(PartnerMember).where(
            PartnerMember.partner_id == partner_id, PartnerMember.role == "PARTNER_ADMIN"))
        if admins == 1:
            raise DomainError("LAST_PARTNER_ADMIN", "A partner keeps at least one admin; add another admin first.",
                              "userId")
    await ctx.session.delete(member)
    await ctx.session.flush()
    return member


async def add_organization_member(ctx: Context, organization_id: int, *, email: str, name: str | None,
                                  role: str, via_partner_id: int | None = None) -> OrganizationMember:
    """Add a user to an organization. ``via_partner_id``: the partner whose admin acts through delegated
    access; it may add role MEMBER only, and the membership is recorded as that partner's, so that revoking
    the delegation removes it (``remove_members_added_by_partner``)."""
    if role not in ORGANIZATION_ROLES:
        raise DomainError("INVALID_ROLE", f"role must be one of {', '.join(ORGANIZATION_ROLES)}.", "role")
    if via_partner_id is not None and role != "MEMBER":
        raise DomainError("PARTNER_ADMIN_RESTRICTED",
                          "A partner admin can add organization members with the role MEMBER only; only the "
                          "organization's super admin or admins can give a user an admin role.", "role")
    if via_partner_id is not None:
        # Locked: a revocation committing between the caller's access check and this write would
        # otherwise leave a membership behind it (revocation locks the same row, then removes them).
        access = await ctx.session.scalar(select(PartnerAccess).where(
            PartnerAccess.organization_id == organization_id, PartnerAccess.partner_id == via_partner_id)
            .with_for_update())
        if access is None or access.status != "ACTIVE":
            raise DomainError("PARTNER_ACCESS_REVOKED", "Your partner's delegated admin access to this organization "
                              "has ended; only the organization's own admins can add members now.")
    if role == "SUPER_ADMIN" and await ctx.session.scalar(select(func.count()).select_from(OrganizationMember).where(
            OrganizationMember.organization_id == organization_id, OrganizationMember.role == "SUPER_ADMIN")):
        raise DomainError("SUPER_ADMIN_EXISTS", "An organization has one super admin; add this user as ADMIN.", "role")
    user = await get_or_create_user(ctx.session, clean_email(email), (name or "").strip() or None)
    existing = await ctx.session.scalar(select(OrganizationMember).where(
        OrganizationMember.organization_id == organization_id, OrganizationMember.user_id == user.id))
    if existing is not None:
        raise DomainError("ALREADY_MEMBER", f"{user.email} is already a member ({existing.role}).", "email")
    member = OrganizationMember(organization_id=organization_id, user_id=user.id, role=role,
                                created_via_partner_id=via_partner_id)
    ctx.session.add(member)
    await ctx.session.flush()
    return member


async def create_api_token(ctx: Context, *, name: str, expires_at: dt.datetime | None) -> tuple[ApiToken, str]:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 200:
        raise DomainError("INVALID_NAME", "A token needs a name of 1 to 200 characters.", "name")
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=dt.UTC)
        if expires_at <= utcnow():
            raise DomainError("EXPIRY_IN_PAST", "expiresAt must be in the future.", "expiresAt")
    user: User | None = await ctx.session.get(User, ctx.viewer.user_id)
    if user is None:  # anonymous, or the token's user is gone: issue_token would fail on user.id
        raise Unauthenticated(SIGN_IN)
    return await issue_token(ctx.session, user, cleaned, expires_at)


async def revoke_api_token(ctx: Context, token_id: int) -> ApiToken:
    token: ApiToken | None = await ctx.session.get(ApiToken, token_id)
    if token is None or (token.user_id != ctx.viewer.user_id and not ctx.viewer.is_platform_admin):
        raise DomainError("UNKNOWN_TOKEN", "You have no token with that ID.", "tokenId")
    if token.revoked_at is not None:
        raise DomainError("ALREADY_REVOKED", "That token is already revoked.", "tokenId")
    token.revoked_at = utcnow()
    return token
