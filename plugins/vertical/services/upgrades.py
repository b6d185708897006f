"""Upgrading customer instances to the latest version, one at a time or many (test accounts first).

The work of an upgrade is done by an *upgrade runner* (the ``gateway_upgrade_runner`` hook;
the plugin's default runner succeeds at once). A runner is ``async fn(job: UpgradeJob) -> None``
and fails the upgrade by raising: the upgrade is then recorded FAILED with the error's message
and the instance keeps its installed version.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import utcnow
from gateway.errors import DomainError
from gateway.plugins import maybe_await
from plugins.vertical.models import SolutionInstance, SolutionUpgrade, SolutionVersion
from plugins.vertical.services.solutions import latest_versions, load_instance_for_update

log = logging.getLogger("plugins.vertical.upgrades")


@dataclass(frozen=True)
class UpgradeJob:
    """What a runner gets: which instance, for which organization, from which version to which."""

    upgrade_id: int
    instance_id: int
    solution_id: int
    organization_id: int
    is_test_account: bool
    from_version: str
    to_version: str


UpgradeRunner = Callable[[UpgradeJob], Awaitable[None] | None]


async def default_runner(job: UpgradeJob) -> None:
    """The built-in runner: nothing to deploy in this gateway, so the upgrade succeeds."""
    log.info("upgrade %s: instance %s %s -> %s", job.upgrade_id, job.instance_id, job.from_version, job.to_version)


def check_upgradable(instance: SolutionInstance, latest: SolutionVersion | None) -> SolutionVersion:
    """The version to upgrade to, or the user error that says why not."""
    if instance.account_status == "INACTIVE":
        raise DomainError("INSTANCE_INACTIVE",
                          "This customer's account is inactive; reactivate the account before upgrading it.",
                          "instanceId")
    if latest is None or latest.id == instance.installed_version_id:
        raise DomainError("ALREADY_LATEST_VERSION",
                          "This instance already runs the latest version; there is nothing to upgrade.",
                          "instanceId")
    return latest


async def _run(session: AsyncSession, instance: SolutionInstance, target: SolutionVersion,
               runner: UpgradeRunner, user_id: int | None) -> SolutionUpgrade:
    source = await session.get(SolutionVersion, instance.installed_version_id)
    assert source is not None
    upgrade = SolutionUpgrade(instance_id=instance.id, from_version_id=source.id, to_version_id=target.id,
                              status="RUNNING", started_at=utcnow(), requested_by_user_id=user_id)
    session.add(upgrade)
    await session.flush()
    job = UpgradeJob(upgrade_id=upgrade.id, instance_id=instance.id, solution_id=instance.solution_id,
                     organization_id=instance.organization_id, is_test_account=instance.is_test_account,
                     from_version=source.version, to_version=target.version)
    try:
        await maybe_await(runner(job))
    except Exception as error:  # a runner's failure is recorded, never raised: the attempt stays in the history
        upgrade.status = "FAILED"
        upgrade.error = str(error) or type(error).__name__
        log.warning("upgrade %s of instance %s failed: %s", upgrade.id, instance.id, upgrade.error)
    else:
        upgrade.status = "COMPLETED"
        instance.installed_version_id = target.id
    upgrade.completed_at = utcnow()
    await session.flush()
    return upgrade


async def upgrade_instance(session: AsyncSession, instance_id: int, runner: UpgradeRunner,
                           user_id: int | None) -> SolutionUpgrade:
    """Upgrade one instance to the latest version (the instance row is locked meanwhile)."""
    instance = await load_instance_for_update(session, instance_id)
    latest = (await latest_versions(session, [instance.solution_id])).get(instance.solution_id)
    target = check_upgradable(instance, latest)
    return await _run(session, instance, target, runner, user_id)


@dataclass
class BulkUpgradeReport:
    upgrades: list[SolutionUpgrade] = field(default_factory=list)
    skipped: list[tuple[SolutionInstance, str]] = field(default_factory=list)  # (instance, reason code)

    @property
    def failed(self) -> list[SolutionUpgrade]:
        return [u for u in self.upgrades if u.status == "FAILED"]


SKIP_INACTIVE = "INSTANCE_INACTIVE"
SKIP_LATEST = "ALREADY_LATEST_VERSION"
SKIP_TEST_FAILED = "TEST_ACCOUNT_FAILED"


async def upgrade_instances(session: AsyncSession, solution_id: int, conditions: Sequence[ColumnElement[bool]],
                            runner: UpgradeRunner, user_id: int | None, *,
                            test_accounts_first: bool = True) -> BulkUpgradeReport:
    """Upgrade every selected instance of a solution to its latest version.

    With ``test_accounts_first`` the test accounts go first, and if any of them fails no live
    account is touched: the live accounts are reported as skipped (TEST_ACCOUNT_FAILED).
    Inactive instances and instances already on the latest version are skipped too.
    """
    latest = (await latest_versions(session, [solution_id])).get(solution_id)
    order: list[ColumnElement[bool]] = [SolutionInstance.is_test_account.desc()] if test_accounts_first else []
    instances = list((await session.scalars(
        select(SolutionInstance).where(SolutionInstance.solution_id == solution_id, *conditions)
        .order_by(*order, SolutionInstance.id).with_for_update()
    )).all())
    report = BulkUpgradeReport()
    for instance in instances:
        if instance.account_status == "INACTIVE":
            report.skipped.append((instance, SKIP_INACTIVE))
            continue
        if latest is None or instance.installed_version_id == latest.id:
            report.skipped.append((instance, SKIP_LATEST))
            continue
        if test_accounts_first and not instance.is_test_account and report.failed:
            report.skipped.append((instance, SKIP_TEST_FAILED))
            continue
        report.upgrades.append(await _run(session, instance, latest, runner, user_id))
    return report
