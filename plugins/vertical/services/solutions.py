"""Solutions, their versions (strict semantic-version order), installation and account status."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import DomainError, NotFound
from plugins.vertical.models import Solution, SolutionInstance, SolutionVersion
from schema.models import AddOn, Organization, Partner, Product, Subscription, SubscriptionAddOn

VERTICAL_PRODUCT = "VERTICAL"
STORAGE_ADD_ON = "VERTICAL_STORAGE"  # PREPAID, unit "GB"
LIVE_SUBSCRIPTION = ("TRIAL", "ACTIVE", "SUSPENDED")
ACCOUNT_STATUSES = ("TRIAL", "ACTIVE", "INACTIVE")
USER_TYPES = ("TRIAL", "PAID", "FREE")

# MAJOR.MINOR.PATCH, numbers without leading zeros (semver.org 2.0.0, without pre-release or build parts).
_SEMVER = re.compile(r"^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})$")


def parse_version(text: str) -> tuple[int, int, int]:
    """(major, minor, patch) of a MAJOR.MINOR.PATCH version, or DomainError INVALID_VERSION."""
    match = _SEMVER.match(text.strip())
    if match is None:
        raise DomainError(
            "INVALID_VERSION",
            f"{text!r} is not a semantic version: write MAJOR.MINOR.PATCH with numbers, e.g. 2.4.1.",
            "version",
        )
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def version_key(row: SolutionVersion) -> tuple[int, int, int]:
    return row.major, row.minor, row.patch


# ---------------------------------------------------------------- solutions and versions
async def create_solution(session: AsyncSession, developer_partner_id: int, name: str) -> Solution:
    partner = await session.get(Partner, developer_partner_id)
    if partner is None:
        raise NotFound("No partner has that ID.")
    if partner.kind != "DEVELOPER":
        raise DomainError("PARTNER_NOT_DEVELOPER",
                          f"{partner.name} is a {partner.kind.lower()} partner; only developer partners own solutions.",
                          "developerPartnerId")
    name = name.strip()
    if not name or len(name) > 200:
        raise DomainError("INVALID_NAME", "Give the solution a name of 1 to 200 characters.", "name")
    taken = await session.scalar(select(Solution.id).where(
        Solution.developer_partner_id == developer_partner_id, func.lower(Solution.name) == name.lower()))
    if taken is not None:
        raise DomainError("SOLUTION_EXISTS", f"{partner.name} already has a solution named {name!r}.", "name")
    solution = Solution(developer_partner_id=developer_partner_id, name=name)
    session.add(solution)
    await session.flush()
    return solution


async def latest_versions(session: AsyncSession, solution_ids: Iterable[int]) -> dict[int, SolutionVersion]:
    """The highest version of each solution (solutions without versions are absent), in one statement."""
    ids = list(dict.fromkeys(solution_ids))
    if not ids:
        return {}
    ranked = select(
        SolutionVersion.id,
        func.row_number().over(
            partition_by=SolutionVersion.solution_id,
            order_by=(SolutionVersion.major.desc(), SolutionVersion.minor.desc(), SolutionVersion.patch.desc()),
        ).label("rank"),
    ).where(SolutionVersion.solution_id.in_(ids)).subquery()
    rows = (await session.scalars(
        select(SolutionVersion).join(ranked, ranked.c.id == SolutionVersion.id).where(ranked.c.rank == 1)
    )).all()
    return {row.solution_id: row for row in rows}


async def publish_version(session: AsyncSession, solution_id: int, version: str, changes: str,
                          user_id: int | None) -> SolutionVersion:
    """Publish ``version``: it must be strictly above the latest published one."""
    key = parse_version(version)
    changes = changes.strip()
    if not changes:
        raise DomainError("CHANGES_REQUIRED", "Write the release notes: what changed in this version.", "changes")
    # Serialize publications of one solution so two concurrent ones cannot both pass the check.
    solution = await session.scalar(select(Solution).where(Solution.id == solution_id).with_for_update())
    if solution is None:
        raise NotFound("No solution has that ID.")
    latest = (await latest_versions(session, [solution_id])).get(solution_id)
    if latest is not None and key <= version_key(latest):
        raise DomainError("VERSION_NOT_ABOVE_LATEST",
                          f"Version {version.strip()} is not above the latest version {latest.version}; "
                          "publish a higher version.", "version")
    row = SolutionVersion(solution_id=solution_id, version="%d.%d.%d" % key, major=key[0], minor=key[1],
                          patch=key[2], changes=changes, published_by_user_id=user_id)
    session.add(row)
    await session.flush()
    return row


async def versions_between(session: AsyncSession, solution_id: int, after: SolutionVersion,
                           up_to: SolutionVersion) -> list[SolutionVersion]:
    """Versions strictly above ``after`` and up to ``up_to`` inclusive, oldest first."""
    order = (SolutionVersion.major, SolutionVersion.minor, SolutionVersion.patch)
    return list((await session.scalars(
        select(SolutionVersion).where(
            SolutionVersion.solution_id == solution_id,
            tuple_(*order) > tuple_(after.major, after.minor, after.patch),
            tuple_(*order) <= tuple_(up_to.major, up_to.minor, up_to.patch),
        ).order_by(*order)
    )).all())


# ---------------------------------------------------------------- instances
@dataclass(frozen=True)
class VerticalSubscription:
    plan_id: int
    user_type: str  # TRIAL PAID FREE


def user_type_for(subscription_status: str | None) -> str:
    """A trial subscription makes a TRIAL user, a paid one PAID; none (or an ended one) FREE."""
    if subscription_status == "TRIAL":
        return "TRIAL"
    if subscription_status in ("ACTIVE", "SUSPENDED"):
        return "PAID"
    return "FREE"


async def vertical_subscriptions(session: AsyncSession, organization_ids: Iterable[int]) -> dict[int, VerticalSubscription]:
    """The current VERTICAL subscription of each organization (newest live one)."""
    ids = list(dict.fromkeys(organization_ids))
    if not ids:
        return {}
    rows = (await session.execute(
        select(Subscription.organization_id, Subscription.plan_id, Subscription.status)
        .join(Product, Product.id == Subscription.product_id)
        .where(Product.code == VERTICAL_PRODUCT, Subscription.organization_id.in_(ids),
               Subscription.status.in_(LIVE_SUBSCRIPTION))
        .order_by(Subscription.id)
    )).all()
    return {org: VerticalSubscription(plan, user_type_for(status)) for org, plan, status in rows}


async def install_solution(session: AsyncSession, solution_id: int, organization_id: int,
                           is_test_account: bool) -> SolutionInstance:
    """Install the latest version for an organization, with account status ACTIVE."""
    if await session.get(Solution, solution_id) is None:
        raise NotFound("No solution has that ID.")
    if await session.get(Organization, organization_id) is None:
        raise NotFound("No organization has that ID.")
    latest = (await latest_versions(session, [solution_id])).get(solution_id)
    if latest is None:
        raise DomainError("NO_VERSION_PUBLISHED", "Publish a first version of the solution before installing it.",
                          "solutionId")
    existing = await session.scalar(select(SolutionInstance.id).where(
        SolutionInstance.solution_id == solution_id, SolutionInstance.organization_id == organization_id))
    if existing is not None:
        raise DomainError("ALREADY_INSTALLED", "The solution is already installed for this organization.",
                          "organizationId")
    subscription = (await vertical_subscriptions(session, [organization_id])).get(organization_id)
    instance = SolutionInstance(
        solution_id=solution_id, organization_id=organization_id, installed_version_id=latest.id,
        account_status="ACTIVE", is_test_account=is_test_account,
        plan_id=subscription.plan_id if subscription else None,
        user_type=subscription.user_type if subscription else "FREE",
    )
    session.add(instance)
    await session.flush()
    return instance


async def load_instance_for_update(session: AsyncSession, instance_id: int) -> SolutionInstance:
    """The instance row, locked on PostgreSQL until the transaction ends."""
    instance = await session.scalar(
        select(SolutionInstance).where(SolutionInstance.id == instance_id).with_for_update()
        .execution_options(populate_existing=True))
    if instance is None:
        raise NotFound("No solution instance has that ID.")
    return instance


async def set_account_status(session: AsyncSession, instance_id: int, status: str) -> tuple[SolutionInstance, str]:
    """Set the account status; returns the instance and the previous status."""
    if status not in ACCOUNT_STATUSES:
        raise DomainError("INVALID_ACCOUNT_STATUS", f"Account status is one of {', '.join(ACCOUNT_STATUSES)}.",
                          "accountStatus")
    instance = await load_instance_for_update(session, instance_id)
    previous = instance.account_status
    if previous == status:
        raise DomainError("ACCOUNT_STATUS_UNCHANGED", f"The account is already {status.lower()}.", "accountStatus")
    instance.account_status = status
    await session.flush()
    return instance, previous


async def sync_subscription(session: AsyncSession, organization_id: int) -> int:
    """Copy the organization's VERTICAL plan and user type onto its instances; returns how many changed."""
    subscription = (await vertical_subscriptions(session, [organization_id])).get(organization_id)
    instances = (await session.scalars(
        select(SolutionInstance).where(SolutionInstance.organization_id == organization_id))).all()
    changed = 0
    for instance in instances:
        plan_id = subscription.plan_id if subscription else instance.plan_id
        user_type = subscription.user_type if subscription else "FREE"
        if (instance.plan_id, instance.user_type) != (plan_id, user_type):
            instance.plan_id, instance.user_type = plan_id, user_type
            changed += 1
    return changed


# ---------------------------------------------------------------- storage
@dataclass(frozen=True)
class Storage:
    data_used_mb: int
    data_limit_mb: int
    file_used_mb: int
    file_limit_mb: int
    add_on_gb: int


async def storage_add_on_gb(session: AsyncSession, organization_ids: Iterable[int]) -> dict[int, int]:
    """GB of VERTICAL_STORAGE add-on on each organization's live VERTICAL subscription (one statement)."""
    ids = list(dict.fromkeys(organization_ids))
    if not ids:
        return {}
    rows = (await session.execute(
        select(Subscription.organization_id, func.sum(SubscriptionAddOn.quantity))
        .join(SubscriptionAddOn, SubscriptionAddOn.subscription_id == Subscription.id)
        .join(AddOn, AddOn.id == SubscriptionAddOn.add_on_id)
        .join(Product, Product.id == Subscription.product_id)
        .where(Subscription.organization_id.in_(ids), Product.code == VERTICAL_PRODUCT,
               AddOn.code == STORAGE_ADD_ON, Subscription.status.in_(LIVE_SUBSCRIPTION))
        .group_by(Subscription.organization_id)
    )).all()
    return {org: int(total or 0) for org, total in rows}


def storage_of(instance: SolutionInstance, add_on_gb: int) -> Storage:
    """The add-on's GB raise the file storage limit; the data storage limit is the instance's own."""
    return Storage(
        data_used_mb=instance.data_used_mb, data_limit_mb=instance.data_limit_mb,
        file_used_mb=instance.file_used_mb, file_limit_mb=instance.file_limit_mb + add_on_gb * 1024,
        add_on_gb=add_on_gb,
    )
