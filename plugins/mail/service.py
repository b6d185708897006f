"""The mail product's rules, over a session; no GraphQL. Refusals are ``DomainError`` with a stable code.

Rules kept here:
- one super admin per organization; changing it demotes the old one to ADMIN;
- the super admin can be neither deleted nor demoted (make someone else super admin first);
- addresses (users and aliases) are unique and inside the organization's domain; aliases need a
  verified domain;
- a deleted user's aliases and pending reset tokens go with it; its backup records stay;
- a password reset yields a one-time link; only the token's SHA-256 and expiry are stored;
- a backup writes a record of what was backed up, when and by whom, and sets ``last_backup_at``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import utcnow
from gateway.errors import DomainError
from gateway.models import User
from gateway.sensitive import random_token
from plugins.mail.models import MailAlias, MailBackup, MailOrganization, MailPasswordReset, MailPolicy, MailUser
from plugins.mail.validation import (
    DEFAULT_DASHBOARD,
    normalize_address,
    validate_dashboard,
    validate_image_url,
    validate_name,
    validate_rules,
)
from schema.models import Organization, OrganizationMember

ROLES = ("SUPER_ADMIN", "ADMIN", "MEMBER")
RESET_LINK_BASE = "https://mail.partner-gateway.example/reset-password"
RESET_TOKEN_LIFETIME = dt.timedelta(hours=24)
BACKUP_SCOPE = ("mailbox", "contacts", "calendar", "settings")


@dataclass
class MailSetup:
    """The rows a mutation works on: the core organization and its (locked) mail setup."""

    organization: Organization
    mail: MailOrganization


# ---------------------------------------------------------------- setup
async def set_up_mail(session: AsyncSession, organization_id: int, *, super_admin_email: str,
                      super_admin_name: str) -> MailOrganization:
    """Give an organization its mail setup and super admin (idempotent: an existing setup is returned)."""
    existing = await session.scalar(select(MailOrganization).where(MailOrganization.organization_id == organization_id))
    if existing is not None:
        return existing
    organization = await session.get(Organization, organization_id)
    if organization is None:
        raise DomainError("NOT_FOUND", "No organization has that ID.")
    email = normalize_address(super_admin_email, organization.domain, "superAdminEmail")
    mail = MailOrganization(organization_id=organization_id, dashboard=dict(DEFAULT_DASHBOARD))
    session.add(mail)
    session.add(MailUser(organization_id=organization_id, email=email, name=validate_name(super_admin_name, "name"),
                         role="SUPER_ADMIN"))
    await session.flush()
    return mail


async def set_up_mail_with_default_super_admin(session: AsyncSession, organization_id: int) -> MailOrganization | None:
    """Set mail up (idempotent); the mail super admin is the organization's own super admin when that person's
    address is in the organization's domain, else the mailbox ``admin@<domain>``. None for an unknown organization."""
    organization = await session.get(Organization, organization_id)
    if organization is None:
        return None
    rows = (await session.execute(
        select(User.email, User.name).join(OrganizationMember, OrganizationMember.user_id == User.id)
        .where(OrganizationMember.organization_id == organization_id, OrganizationMember.role == "SUPER_ADMIN")
        .order_by(OrganizationMember.id)
    )).all()
    for email, name in rows:
        if email.lower().endswith("@" + organization.domain.lower()):
            try:
                return await set_up_mail(session, organization_id, super_admin_email=email, super_admin_name=name)
            except DomainError:
                break  # an address or name the mail rules refuse must not undo the subscription: use the default
    return await set_up_mail(session, organization_id, super_admin_email=f"admin@{organization.domain}",
                             super_admin_name="Administrator")


async def load_setup(session: AsyncSession, organization_id: int) -> MailSetup:
    """The organization and its mail setup, the latter row-locked on PostgreSQL (mail writes of one
    organization run one after the other, which keeps "one super admin" and uniqueness checks exact)."""
    organization = await session.get(Organization, organization_id)
    mail = await session.scalar(
        select(MailOrganization).where(MailOrganization.organization_id == organization_id).with_for_update()
    )
    if organization is None or mail is None:
        raise DomainError("MAIL_NOT_SET_UP", "This organization has no mail; add a Mail subscription first.")
    return MailSetup(organization, mail)


async def load_user(session: AsyncSession, organization_id: int, user_id: int) -> MailUser:
    user = await session.get(MailUser, user_id)
    if user is None or user.organization_id != organization_id:
        raise DomainError("MAIL_USER_NOT_FOUND", "No mail user of this organization has that ID.", "userId")
    return user


async def _address_taken(session: AsyncSession, address: str) -> bool:
    user = await session.scalar(select(func.count()).select_from(MailUser).where(MailUser.email == address))
    alias = await session.scalar(select(func.count()).select_from(MailAlias).where(MailAlias.address == address))
    return bool(user or alias)


# ---------------------------------------------------------------- users
async def add_user(session: AsyncSession, setup: MailSetup, *, email: str, name: str, role: str = "MEMBER") -> MailUser:
    if role == "SUPER_ADMIN":
        raise DomainError("ONE_SUPER_ADMIN",
                          "An organization has one super admin; add the user, then use changeMailSuperAdmin.", "role")
    if role not in ROLES:
        raise DomainError("INVALID_ROLE", f"role must be one of {', '.join(ROLES)}.", "role")
    address = normalize_address(email, setup.organization.domain, "email")
    if await _address_taken(session, address):
        raise DomainError("ADDRESS_TAKEN", f"{address} is already a mail user or an alias.", "email")
    user = MailUser(organization_id=setup.organization.id, email=address, name=validate_name(name, "name"), role=role)
    session.add(user)
    await session.flush()
    return user


async def change_user_role(session: AsyncSession, setup: MailSetup, user_id: int, role: str) -> MailUser:
    user = await load_user(session, setup.organization.id, user_id)
    if role == "SUPER_ADMIN":
        raise DomainError("ONE_SUPER_ADMIN", "Use changeMailSuperAdmin to make a user the super admin.", "role")
    if role not in ROLES:
        raise DomainError("INVALID_ROLE", f"role must be one of {', '.join(ROLES)}.", "role")
    if user.role == "SUPER_ADMIN":
        raise DomainError("SUPER_ADMIN_PROTECTED",
                          "The super admin cannot be demoted; make another user super admin first.", "userId")
    user.role = role
    await session.flush()
    return user


async def change_super_admin(session: AsyncSession, setup: MailSetup, user_id: int) -> tuple[MailUser, MailUser | None]:
    """Make ``user_id`` the super admin and demote the previous one to ADMIN; returns (new, old)."""
    user = await load_user(session, setup.organization.id, user_id)
    if user.role == "SUPER_ADMIN":
        raise DomainError("ALREADY_SUPER_ADMIN", f"{user.email} is already the super admin.", "userId")
    previous = await session.scalar(select(MailUser).where(
        MailUser.organization_id == setup.organization.id, MailUser.role == "SUPER_ADMIN"))
    if previous is not None:
        previous.role = "ADMIN"
        await session.flush()  # the old one steps down before the new one steps up (unique index)
    user.role = "SUPER_ADMIN"
    await session.flush()
    return user, previous


async def set_profile_image(session: AsyncSession, setup: MailSetup, user_id: int, url: str | None) -> MailUser:
    user = await load_user(session, setup.organization.id, user_id)
    user.profile_image_url = validate_image_url(url)
    await session.flush()
    return user


async def delete_user(session: AsyncSession, setup: MailSetup, user_id: int) -> tuple[MailUser, list[str]]:
    """Delete a user with its aliases and reset tokens; returns the deleted row and the alias addresses removed."""
    user = await load_user(session, setup.organization.id, user_id)
    if user.role == "SUPER_ADMIN":
        raise DomainError("SUPER_ADMIN_PROTECTED",
                          "The super admin cannot be deleted; make another user super admin first.", "userId")
    aliases = list((await session.scalars(select(MailAlias.address).where(MailAlias.user_id == user.id)
                                          .order_by(MailAlias.address))).all())
    await session.execute(delete(MailAlias).where(MailAlias.user_id == user.id))
    await session.execute(delete(MailPasswordReset).where(MailPasswordReset.user_id == user.id))
    await session.execute(update(MailBackup).where(MailBackup.user_id == user.id).values(user_id=None))
    await session.delete(user)
    await session.flush()
    return user, aliases


def hash_reset_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def reset_password(session: AsyncSession, setup: MailSetup, user_id: int, *,
                         requested_by: int | None) -> tuple[MailUser, str]:
    """A new one-time reset link for the user; earlier unused links stop working. Only the hash is stored."""
    user = await load_user(session, setup.organization.id, user_id)
    now = utcnow()
    await session.execute(update(MailPasswordReset).where(
        MailPasswordReset.user_id == user.id, MailPasswordReset.used_at.is_(None)).values(used_at=now))
    token = random_token(32)
    session.add(MailPasswordReset(user_id=user.id, token_hash=hash_reset_token(token), expires_at=now + RESET_TOKEN_LIFETIME,
                                  requested_by_user_id=requested_by))
    await session.flush()
    return user, f"{RESET_LINK_BASE}?token={token}"


async def redeem_reset_token(session: AsyncSession, token: str) -> MailUser:
    """Use a reset token once (the mail product's reset page would call this); expired or used: RESET_LINK_INVALID."""
    row = await session.scalar(select(MailPasswordReset).where(MailPasswordReset.token_hash == hash_reset_token(token))
                               .with_for_update())
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise DomainError("RESET_LINK_INVALID", "This reset link has expired or was already used; ask for a new one.")
    row.used_at = utcnow()
    user = await session.get(MailUser, row.user_id)
    assert user is not None
    await session.flush()
    return user


async def backup_account(session: AsyncSession, setup: MailSetup, user_id: int, *, requested_by: int | None,
                         via: str) -> tuple[MailUser, MailBackup]:
    user = await load_user(session, setup.organization.id, user_id)
    aliases = list((await session.scalars(select(MailAlias.address).where(MailAlias.user_id == user.id)
                                          .order_by(MailAlias.address))).all())
    now = utcnow()
    backup = MailBackup(
        organization_id=setup.organization.id, user_id=user.id, user_email=user.email, created_by_user_id=requested_by,
        via=via, created_at=now,
        contents={"scope": list(BACKUP_SCOPE), "email": user.email, "name": user.name, "role": user.role,
                  "aliases": aliases},
    )
    session.add(backup)
    user.last_backup_at = now
    await session.flush()
    return user, backup


# ---------------------------------------------------------------- aliases and policies
async def create_alias(session: AsyncSession, setup: MailSetup, user_id: int, alias: str) -> MailAlias:
    organization = setup.organization
    if not organization.domain_verified:
        raise DomainError("DOMAIN_NOT_VERIFIED",
                          f"Verify the domain {organization.domain} before creating aliases in it.", "alias")
    user = await load_user(session, organization.id, user_id)
    address = normalize_address(alias, organization.domain, "alias")
    if await _address_taken(session, address):
        raise DomainError("ADDRESS_TAKEN", f"{address} is already a mail user or an alias.", "alias")
    row = MailAlias(organization_id=organization.id, user_id=user.id, address=address)
    session.add(row)
    await session.flush()
    return row


async def create_policy(session: AsyncSession, setup: MailSetup, *, name: str, rules: object,
                        created_by: int | None) -> MailPolicy:
    clean_name = validate_name(name, "name", maximum=100)
    taken = await session.scalar(select(func.count()).select_from(MailPolicy).where(
        MailPolicy.organization_id == setup.organization.id, func.lower(MailPolicy.name) == clean_name.lower()))
    if taken:
        raise DomainError("POLICY_NAME_TAKEN", f"A mail policy named {clean_name!r} already exists.", "name")
    row = MailPolicy(organization_id=setup.organization.id, name=clean_name, rules=validate_rules(rules),
                     created_by_user_id=created_by)
    session.add(row)
    await session.flush()
    return row


# ---------------------------------------------------------------- organization settings
async def set_tfa(session: AsyncSession, setup: MailSetup, enabled: bool) -> MailOrganization:
    setup.mail.tfa_enabled = enabled
    await session.flush()
    return setup.mail


async def set_contacts_sync(session: AsyncSession, setup: MailSetup, enabled: bool) -> MailOrganization:
    setup.mail.contacts_sync_enabled = enabled
    await session.flush()
    return setup.mail


async def join_referral_program(session: AsyncSession, setup: MailSetup) -> MailOrganization:
    """Join once; joining again changes nothing (the first date is kept)."""
    if setup.mail.referral_program_joined_at is None:
        setup.mail.referral_program_joined_at = utcnow()
        await session.flush()
    return setup.mail


async def edit_dashboard(session: AsyncSession, setup: MailSetup, dashboard: object) -> MailOrganization:
    setup.mail.dashboard = validate_dashboard(dashboard)
    await session.flush()
    return setup.mail
