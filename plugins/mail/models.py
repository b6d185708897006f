"""The mail plugin's tables: one mail setup per organization, its users, aliases, policies,
password-reset tokens (hashes only) and account backups."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base, utcnow


class MailOrganization(Base):
    """An organization's mail setup; an organization without this row has no mail (``Organization.mail`` is null)."""

    __tablename__ = "mail_organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), unique=True)
    tfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    contacts_sync_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    referral_program_joined_at: Mapped[dt.datetime | None]
    dashboard: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MailUser(Base):
    """A mailbox of an organization. At most one SUPER_ADMIN per organization (a partial unique index)."""

    __tablename__ = "mail_users"
    __table_args__ = (
        Index("ix_mail_users_org_email", "organization_id", "email", "id"),
        Index("uq_mail_users_one_super_admin", "organization_id", unique=True,
              sqlite_where=text("role = 'SUPER_ADMIN'"), postgresql_where=text("role = 'SUPER_ADMIN'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="MEMBER")  # SUPER_ADMIN ADMIN MEMBER
    status: Mapped[str] = mapped_column(String(20), default="ACTIVE")  # ACTIVE
    profile_image_url: Mapped[str | None] = mapped_column(String(2000))
    last_backup_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MailAlias(Base):
    """Another address delivering to a user's mailbox; a full address in the organization's domain."""

    __tablename__ = "mail_aliases"
    __table_args__ = (Index("ix_mail_aliases_org_address", "organization_id", "address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("mail_users.id", ondelete="CASCADE"), index=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MailPolicy(Base):
    """A named set of mail-flow rules (validated JSON) of an organization."""

    __tablename__ = "mail_policies"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    rules: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MailPasswordReset(Base):
    """A one-time password-reset token: only its SHA-256 is stored, with an expiry."""

    __tablename__ = "mail_password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("mail_users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime]
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    used_at: Mapped[dt.datetime | None]


class MailBackup(Base):
    """A record of one account backup: what was backed up, when and by whom (kept after the user is deleted)."""

    __tablename__ = "mail_backups"
    __table_args__ = (Index("ix_mail_backups_org", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("mail_users.id", ondelete="SET NULL"), index=True)
    user_email: Mapped[str] = mapped_column(String(320))
    contents: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    via: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


MODELS: list[type] = [MailOrganization, MailUser, MailAlias, MailPolicy, MailPasswordReset, MailBackup]
