"""The vertical plugin's tables: solutions, their versions, customer instances, upgrades, developer access."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.db import Base, utcnow


class Solution(Base):
    """A vertical solution, owned by a developer partner (kind DEVELOPER)."""

    __tablename__ = "vertical_solutions"
    __table_args__ = (Index("ix_vertical_solutions_developer", "developer_partner_id", "name", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    developer_partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SolutionVersion(Base):
    """A published version; (major, minor, patch) give the semantic-version order in SQL."""

    __tablename__ = "vertical_solution_versions"
    __table_args__ = (
        UniqueConstraint("solution_id", "version"),
        Index("ix_vertical_versions_order", "solution_id", "major", "minor", "patch"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    solution_id: Mapped[int] = mapped_column(ForeignKey("vertical_solutions.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(40))
    major: Mapped[int]
    minor: Mapped[int]
    patch: Mapped[int]
    changes: Mapped[str] = mapped_column(Text)
    published_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class SolutionInstance(Base):
    """A solution installed for one customer organization."""

    __tablename__ = "vertical_solution_instances"
    __table_args__ = (
        UniqueConstraint("solution_id", "organization_id"),
        Index("ix_vertical_instances_solution", "solution_id", "id"),
        Index("ix_vertical_instances_org", "organization_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    solution_id: Mapped[int] = mapped_column(ForeignKey("vertical_solutions.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    installed_version_id: Mapped[int] = mapped_column(ForeignKey("vertical_solution_versions.id"))
    account_status: Mapped[str] = mapped_column(String(20), default="ACTIVE")  # TRIAL ACTIVE INACTIVE
    user_type: Mapped[str] = mapped_column(String(20), default="FREE")  # TRIAL PAID FREE
    is_test_account: Mapped[bool] = mapped_column(Boolean, default=False)
    # Kept in step with the organization's VERTICAL subscription by the subscription_changed hook.
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"), index=True)
    last_transaction_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    data_used_mb: Mapped[int] = mapped_column(default=0)
    data_limit_mb: Mapped[int] = mapped_column(default=1024)
    file_used_mb: Mapped[int] = mapped_column(default=0)
    file_limit_mb: Mapped[int] = mapped_column(default=5120)
    installed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SolutionUpgrade(Base):
    """One attempt to move an instance from one version to another."""

    __tablename__ = "vertical_solution_upgrades"
    __table_args__ = (Index("ix_vertical_upgrades_instance", "instance_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("vertical_solution_instances.id", ondelete="CASCADE"))
    from_version_id: Mapped[int] = mapped_column(ForeignKey("vertical_solution_versions.id"))
    to_version_id: Mapped[int] = mapped_column(ForeignKey("vertical_solution_versions.id"))
    status: Mapped[str] = mapped_column(String(20), default="PENDING")  # PENDING RUNNING COMPLETED FAILED
    started_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DeveloperAccess(Base):
    """The developer's access to one instance (one row per instance; the audit log keeps the history)."""

    __tablename__ = "vertical_developer_access"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("vertical_solution_instances.id", ondelete="CASCADE"), unique=True)
    status: Mapped[str] = mapped_column(String(20))  # REQUESTED GRANTED REVOKED
    requested_at: Mapped[dt.datetime | None]
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    granted_at: Mapped[dt.datetime | None]
    granted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoked_at: Mapped[dt.datetime | None]
    revoked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # GRANTED: the developer's access code (accessUrl); REQUESTED: the key of the request's grant links
    # (services/grant_links.py); None otherwise. Replaced at every step, so an old link stops working.
    access_code: Mapped[str | None] = mapped_column(String(64))


MODELS: list[type] = [Solution, SolutionVersion, SolutionInstance, SolutionUpgrade, DeveloperAccess]
