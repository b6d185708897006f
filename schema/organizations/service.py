"""The rules of organizations: creation, domain verification, details, partner mapping, delegated access."""

from __future__ import annotations

import hmac
import re
from typing import Any

from sqlalchemy import func, select

from gateway.auth import get_or_create_user
from gateway.context import Context
from gateway.db import utcnow
from gateway.errors import DomainError
from gateway.events import emit
from gateway.plugins import call_firstresult
from gateway.sensitive import random_token
from schema.access import record_audit
from schema.common import AddressInput, clean_address, clean_name
from schema.models import Organization, OrganizationMember, Partner, PartnerAccess, PartnerMapping, PaymentMethod
from schema.organizations.events import (
    OrganizationCreated,
    PartnerAccessGranted,
    PartnerAccessRevoked,
    PartnerMappingChanged,
)

DOMAIN_PATTERN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def clean_domain(domain: str) -> str:
    cleaned = domain.strip().lower().rstrip(".")
    if not DOMAIN_PATTERN.match(cleaned):
        raise DomainError("INVALID_DOMAIN", f"{domain!r} is not a domain name such as example.com.", "domain")
    return cleaned


def clean_email(email: str, field: str = "email") -> str:
    cleaned = email.strip().lower()
    if not EMAIL_PATTERN.match(cleaned) or len(cleaned) > 320:
        raise DomainError("INVALID_EMAIL", f"{email!r} is not an email address.", field)
    return cleaned


def _apply_address(organization: Organization, address: dict[str, str | None]) -> None:
    organization.address_line1 = address["line1"]
    organization.address_line2 = address["line2"]
    organization.address_line3 = address["line3"]
    organization.city = address["city"]
    organization.postal_code = address["postal_code"]
    organization.state = address["state"]
    organization.country = address["country"]


async def create_organization(ctx: Context, partner: Partner, *, name: str, domain: str, address: AddressInput | None,
                              super_admin_email: str, super_admin_name: str | None = None) -> Organization:
    """A partner creates a customer: it becomes the mapped partner and the delegated admin."""
    session = ctx.session
    name = clean_name(name)
    domain = clean_domain(domain)
    email = clean_email(super_admin_email, "superAdminEmail")
    cleaned_address = clean_address(address)
    if partner.status != "ACTIVE":
        raise DomainError("PARTNER_DISABLED", f"The partner {partner.name} is disabled.", "partnerId")
    if await session.scalar(select(func.count()).select_from(Organization).where(Organization.domain == domain)):
        raise DomainError("DOMAIN_TAKEN", f"An organization with the domain {domain} already exists.", "domain")
    if not _address_in_domain(email, domain):
        # The super admin is the customer's own person: the one who can revoke the partner's access.
        # A partner naming its own address there would hold that power itself.
        raise DomainError("SUPER_ADMIN_OUTSIDE_DOMAIN",
                          f"The super admin must have an address at {domain} (the customer's own domain), "
                          f"not {email.rsplit('@', 1)[-1]}.", "superAdminEmail")
    organization = Organization(
        name=name, domain=domain, domain_verified=False, domain_verification_code=random_token(8, prefix="pgw-verify-", hex=True),
        status="TRIAL", partner_id=partner.id, customer_partner_id=partner.id if partner.kind == "RESELLER" else None,
    )
    _apply_address(organization, cleaned_address)
    session.add(organization)
    await session.flush()
    session.add(PartnerMapping(organization_id=organization.id, partner_id=partner.id, mapped_by="PARTNER"))
    session.add(PartnerAccess(organization_id=organization.id, partner_id=partner.id, status="ACTIVE"))
    user = await get_or_create_user(session, email, super_admin_name)
    session.add(OrganizationMember(organization_id=organization.id, user_id=user.id, role="SUPER_ADMIN"))
    await session.flush()
    await emit(ctx, OrganizationCreated(organization_id=organization.id, partner_id=partner.id, domain=domain))
    await emit(ctx, PartnerAccessGranted(organization_id=organization.id, partner_id=partner.id))
    return organization


def _address_in_domain(email: str, domain: str) -> bool:
    host = email.rsplit("@", 1)[-1].lower()
    return host == domain or host.endswith("." + domain)


async def verify_domain(ctx: Context, organization: Organization, code: str) -> Organization:
    if organization.domain_verified:
        raise DomainError("DOMAIN_ALREADY_VERIFIED", f"The domain {organization.domain} is already verified.")
    verdict = await call_firstresult(ctx.hooks.gateway_verify_domain, domain=organization.domain,
                                     expected_code=organization.domain_verification_code, given_code=code)
    if verdict is None:
        verdict = hmac.compare_digest(code.strip(), organization.domain_verification_code)
    if not verdict:
        raise DomainError("INVALID_VERIFICATION_CODE",
                          f"That is not the verification code of {organization.domain}; "
                          "copy it from domainVerificationCode.", "verificationCode")
    organization.domain_verified = True
    if organization.status == "INACTIVE":
        organization.status = "ACTIVE"
    return organization


async def update_details(organization: Organization, *, name: str | None, address: AddressInput | None) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    if name is not None:
        organization.name = clean_name(name)
        changed["name"] = organization.name
    if address is not None:
        cleaned = clean_address(address)
        _apply_address(organization, cleaned)
        changed["address"] = cleaned
    if not changed:
        raise DomainError("NOTHING_TO_UPDATE", "Give a name or an address to change.")
    return changed


async def partner_by_code(ctx: Context, code: str) -> Partner:
    partner: Partner | None = await ctx.session.scalar(select(Partner).where(func.upper(Partner.code) == code.strip().upper()))
    if partner is None:
        raise DomainError("UNKNOWN_PARTNER_CODE", f"No partner has the code {code!r}; ask your partner for its code.",
                          "partnerCode")
    return partner


async def tag_partner(ctx: Context, organization: Organization, code: str, *,
                      via: str = "MEMBERSHIP") -> tuple[int | None, Partner]:
    """The customer tags a partner: the new mapping replaces the old one, the history keeps both."""
    partner = await partner_by_code(ctx, code)
    if partner.status != "ACTIVE":
        raise DomainError("PARTNER_DISABLED", f"The partner {partner.name} is disabled and cannot be tagged.", "partnerCode")
    if organization.partner_id == partner.id:
        raise DomainError("ALREADY_MAPPED", f"{partner.name} is already your partner.", "partnerCode")
    now = utcnow()
    old_partner_id = organization.partner_id
    for mapping in (await ctx.session.scalars(select(PartnerMapping).where(
            PartnerMapping.organization_id == organization.id, PartnerMapping.unmapped_at.is_(None)))).all():
        mapping.unmapped_at = now
    if old_partner_id is not None:
        # The customer moved to another partner: the old partner's delegated admin access ends with the mapping.
        await _revoke(ctx, organization, [old_partner_id], via=via)
        await _remove_resellers_card(ctx, organization, old_partner_id, via=via)
    ctx.session.add(PartnerMapping(organization_id=organization.id, partner_id=partner.id, mapped_by="CUSTOMER",
                                   mapped_at=now))
    organization.partner_id = partner.id
    organization.customer_partner_id = partner.id if partner.kind == "RESELLER" else None
    await ctx.session.flush()
    await emit(ctx, PartnerMappingChanged(organization_id=organization.id, partner_id=partner.id,
                                          old_partner_id=old_partner_id))
    return old_partner_id, partner


async def _remove_resellers_card(ctx: Context, organization: Organization, old_partner_id: int, *, via: str) -> None:
    """A RESELLER_CARD is the reseller's card: it leaves with the reseller, or the next partner would charge
    every purchase and renewal to the one that left. The customer's own card stays. Audited in the
    customer's log (``payment_method.remove``, reason PARTNER_CHANGED)."""
    card = await ctx.session.scalar(select(PaymentMethod).where(
        PaymentMethod.organization_id == organization.id, PaymentMethod.owner == "RESELLER_CARD").with_for_update())
    if card is not None:
        await ctx.session.delete(card)
        record_audit(ctx, "payment_method.remove", via=via, organization_id=organization.id, partner_id=old_partner_id,
                  details={"owner": card.owner, "brand": card.brand, "last4": card.last4, "reason": "PARTNER_CHANGED"})
        await ctx.session.flush()


async def _revoke(ctx: Context, organization: Organization, partner_ids: list[int] | None = None, *,
                  via: str) -> list[int]:
    """End delegated admin access (every partner's, or ``partner_ids``'), and with it the memberships those
    partners' admins created through it; ``via``: how the revoker reaches the organization (for the audit)."""
    stmt = select(PartnerAccess).where(PartnerAccess.organization_id == organization.id, PartnerAccess.status == "ACTIVE")
    if partner_ids is not None:
        stmt = stmt.where(PartnerAccess.partner_id.in_(partner_ids))
    revoked = []
    for access in (await ctx.session.scalars(stmt.with_for_update())).all():
        access.status = "REVOKED"
        access.revoked_at = utcnow()
        access.revoked_by_user_id = ctx.viewer.user_id
        revoked.append(access.partner_id)
    await ctx.session.flush()
    for partner_id in revoked:
        await remove_members_added_by_partner(ctx, organization, partner_id, via=via)
        await emit(ctx, PartnerAccessRevoked(organization_id=organization.id, partner_id=partner_id))
    return revoked


async def remove_members_added_by_partner(ctx: Context, organization: Organization, partner_id: int, *,
                                          via: str) -> list[OrganizationMember]:
    """Remove the organization's members that ``partner_id``'s admins added through delegated access.

    Delegated access is lent, not given: whoever the partner let in (its own staff included) loses every
    access that came from the delegation when it ends. Each removal is audited in the organization's
    log (``organization.remove_member``, reason DELEGATED_ACCESS_REVOKED), which the customer reads."""
    members = (await ctx.session.scalars(select(OrganizationMember).where(
        OrganizationMember.organization_id == organization.id, OrganizationMember.created_via_partner_id == partner_id,
    ).order_by(OrganizationMember.id).with_for_update())).all()
    for member in members:
        await ctx.session.delete(member)
        record_audit(ctx, "organization.remove_member", via=via, organization_id=organization.id, partner_id=partner_id,
                  details={"userId": member.user_id, "role": member.role, "addedByPartnerId": partner_id,
                           "reason": "DELEGATED_ACCESS_REVOKED"})
    await ctx.session.flush()
    return list(members)


async def revoke_partner_access(ctx: Context, organization: Organization, *, via: str = "MEMBERSHIP") -> list[int]:
    revoked = await _revoke(ctx, organization, via=via)
    if not revoked:
        raise DomainError("NO_ACTIVE_PARTNER_ACCESS", "No partner has delegated admin access to this organization.")
    return revoked


async def grant_partner_access(ctx: Context, organization: Organization, partner_id: int) -> PartnerAccess:
    partner = await ctx.session.get(Partner, partner_id)
    if partner is None:
        raise DomainError("UNKNOWN_PARTNER", "No partner has that ID.", "partnerId")
    if partner.status != "ACTIVE":
        raise DomainError("PARTNER_DISABLED", f"The partner {partner.name} is disabled.", "partnerId")
    access: PartnerAccess | None = await ctx.session.scalar(select(PartnerAccess).where(
        PartnerAccess.organization_id == organization.id, PartnerAccess.partner_id == partner_id).with_for_update())
    if access is not None and access.status == "ACTIVE":
        raise DomainError("ALREADY_GRANTED", f"{partner.name} already has delegated admin access.", "partnerId")
    if access is None:
        access = PartnerAccess(organization_id=organization.id, partner_id=partner_id)
        ctx.session.add(access)
    access.status = "ACTIVE"
    access.granted_at = utcnow()
    access.revoked_at = None
    access.revoked_by_user_id = None
    await ctx.session.flush()
    await emit(ctx, PartnerAccessGranted(organization_id=organization.id, partner_id=partner_id))
    return access


async def load_organization(ctx: Context, organization_id: int, *, for_update: bool = False) -> Organization:
    stmt = select(Organization).where(Organization.id == organization_id)
    if for_update:
        stmt = stmt.with_for_update()
    organization: Organization | None = await ctx.session.scalar(stmt)
    if organization is None:
        raise DomainError("NOT_FOUND", "No organization has that ID.", "organizationId")
    return organization
