"""The vertical plugin's domain rules, tested on the services directly."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from gateway.db import utcnow
from gateway.errors import DomainError
from plugins.vertical.models import SolutionInstance, SolutionUpgrade
from plugins.vertical.services import developer_access, solutions, upgrades
from plugins.vertical.services.customers import CustomerFilter, customer_conditions
from plugins.vertical.tests.conftest import VerticalWorld, add_organization, add_subscription


class Outbox:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def __call__(self, **message: Any) -> None:
        self.messages.append(message)


async def failing(job: upgrades.UpgradeJob) -> None:
    raise RuntimeError("disk full")


# ---------------------------------------------------------------- versions
@pytest.mark.parametrize("text,expected", [("1.2.3", (1, 2, 3)), ("0.0.1", (0, 0, 1)), (" 10.20.30 ", (10, 20, 30))])
def test_parse_version_accepts_semver(text: str, expected: tuple[int, int, int]) -> None:
    assert solutions.parse_version(text) == expected


@pytest.mark.parametrize("text", ["1.2", "1.2.3.4", "v1.2.3", "01.2.3", "1.2.x", "", "1.2.3-beta"])
def test_parse_version_refuses_anything_else(text: str) -> None:
    with pytest.raises(DomainError) as error:
        solutions.parse_version(text)
    assert error.value.code == "INVALID_VERSION"


async def test_publish_must_be_strictly_above_latest_in_semver_order(runtime, vworld: VerticalWorld) -> None:
    async with runtime.sessions() as session, session.begin():
        for refused in ("2.0.0", "1.9.9", "1.10.0", "0.9.0"):
            with pytest.raises(DomainError) as error:
                await solutions.publish_version(session, vworld.solution, refused, "notes", None)
            assert error.value.code == "VERSION_NOT_ABOVE_LATEST", refused
        published = await solutions.publish_version(session, vworld.solution, "2.0.1", "Fixes.", None)
        assert (published.major, published.minor, published.patch) == (2, 0, 1)
        # 2.10.0 is above 2.9.0 numerically (a string comparison would say otherwise)
        await solutions.publish_version(session, vworld.solution, "2.9.0", "Nine.", None)
        await solutions.publish_version(session, vworld.solution, "2.10.0", "Ten.", None)
        latest = (await solutions.latest_versions(session, [vworld.solution]))[vworld.solution]
        assert latest.version == "2.10.0"
        with pytest.raises(DomainError) as error:
            await solutions.publish_version(session, vworld.solution, "3.0.0", "   ", None)
        assert error.value.code == "CHANGES_REQUIRED"


async def test_create_solution_only_for_developer_partners(runtime, vworld: VerticalWorld) -> None:
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(DomainError) as error:
            await solutions.create_solution(session, vworld.world.partners["reseller"], "Shop")
        assert error.value.code == "PARTNER_NOT_DEVELOPER"
        created = await solutions.create_solution(session, vworld.world.partners["devco"], "Shop")
        assert created.developer_partner_id == vworld.world.partners["devco"]
        with pytest.raises(DomainError) as error:
            await solutions.create_solution(session, vworld.world.partners["devco"], "shop")
        assert error.value.code == "SOLUTION_EXISTS"


async def test_install_takes_latest_version_active_and_the_vertical_plan(runtime, vworld: VerticalWorld) -> None:
    async with runtime.sessions() as session, session.begin():
        org = await add_organization(session, "new.example")
        await add_subscription(session, org, vworld.product, vworld.plans["VERTICAL_PROFESSIONAL"], "TRIAL")
        instance = await solutions.install_solution(session, vworld.solution, org, True)
        assert instance.installed_version_id == vworld.versions["2.0.0"]
        assert (instance.account_status, instance.user_type, instance.is_test_account) == ("ACTIVE", "TRIAL", True)
        assert instance.plan_id == vworld.plans["VERTICAL_PROFESSIONAL"]
        with pytest.raises(DomainError) as error:
            await solutions.install_solution(session, vworld.solution, org, False)
        assert error.value.code == "ALREADY_INSTALLED"
        empty = await solutions.create_solution(session, vworld.world.partners["devco"], "Empty")
        with pytest.raises(DomainError) as error:
            await solutions.install_solution(session, empty.id, org, False)
        assert error.value.code == "NO_VERSION_PUBLISHED"


async def test_subscription_sync_copies_plan_and_user_type(runtime, vworld: VerticalWorld) -> None:
    async with runtime.sessions() as session, session.begin():
        org = vworld.world.organizations["direct"]
        await add_subscription(session, org, vworld.product, vworld.plans["VERTICAL_PROFESSIONAL"], "ACTIVE")
        assert await solutions.sync_subscription(session, org) == 1
        instance = await session.get(SolutionInstance, vworld.instances["direct"])
        assert (instance.plan_id, instance.user_type) == (vworld.plans["VERTICAL_PROFESSIONAL"], "PAID")
        assert await solutions.sync_subscription(session, org) == 0


async def test_account_status_change_and_unchanged_refusal(runtime, vworld: VerticalWorld) -> None:
    async with runtime.sessions() as session, session.begin():
        instance, previous = await solutions.set_account_status(session, vworld.instances["acme"], "INACTIVE")
        assert (previous, instance.account_status) == ("ACTIVE", "INACTIVE")
        with pytest.raises(DomainError) as error:
            await solutions.set_account_status(session, vworld.instances["acme"], "INACTIVE")
        assert error.value.code == "ACCOUNT_STATUS_UNCHANGED"


async def test_storage_add_on_raises_the_file_limit(runtime, vworld: VerticalWorld) -> None:
    async with runtime.sessions() as session:
        extra = await solutions.storage_add_on_gb(session, [vworld.world.organizations["acme"],
                                                            vworld.world.organizations["direct"]])
        assert extra == {vworld.world.organizations["acme"]: 3}
        instance = await session.get(SolutionInstance, vworld.instances["acme"])
        storage = solutions.storage_of(instance, 3)
        assert (storage.file_limit_mb, storage.data_limit_mb) == (5120 + 3 * 1024, 1024)


# ---------------------------------------------------------------- upgrades
async def test_upgrade_moves_to_latest_and_records_history(runtime, vworld: VerticalWorld) -> None:
    async with runtime.sessions() as session, session.begin():
        upgrade = await upgrades.upgrade_instance(session, vworld.instances["acme"], upgrades.default_runner, None)
        assert upgrade.status == "COMPLETED" and upgrade.error is None
        assert upgrade.from_version_id == vworld.versions["1.0.0"] and upgrade.to_version_id == vworld.versions["2.0.0"]
        assert upgrade.started_at is not None and upgrade.completed_at is not None
        assert upgrade.completed_at >= upgrade.started_at
        instance = await session.get(SolutionInstance, vworld.instances["acme"])
        assert instance.installed_version_id == vworld.versions["2.0.0"]
        with pytest.raises(DomainError) as error:
            await upgrades.upgrade_instance(session, vworld.instances["acme"], upgrades.default_runner, None)
        assert error.value.code == "ALREADY_LATEST_VERSION"


async def test_upgrade_refuses_inactive_instance(runtime, vworld: VerticalWorld) -> None:
    async with runtime.sessions() as session, session.begin():
        await solutions.set_account_status(session, vworld.instances["acme"], "INACTIVE")
        with pytest.raises(DomainError) as error:
            await upgrades.upgrade_instance(session, vworld.instances["acme"], upgrades.default_runner, None)
        assert error.value.code == "INSTANCE_INACTIVE"
        assert (await session.scalars(select(SolutionUpgrade))).all() == []


async def test_failed_upgrade_is_recorded_and_keeps_the_installed_version(runtime, vworld: VerticalWorld) -> None:
    async with runtime.sessions() as session, session.begin():
        upgrade = await upgrades.upgrade_instance(session, vworld.instances["acme"], failing, None)
    async with runtime.sessions() as session:
        stored = await session.get(SolutionUpgrade, upgrade.id)
        assert (stored.status, stored.error) == ("FAILED", "disk full")
        assert stored.completed_at is not None
        instance = await session.get(SolutionInstance, vworld.instances["acme"])
        assert instance.installed_version_id == vworld.versions["1.0.0"]


async def _mixed_fleet(runtime, vworld: VerticalWorld) -> dict[str, int]:
    """Two more test accounts and two more live accounts on 1.0.0, plus one inactive live account."""
    ids = dict(vworld.instances)
    async with runtime.sessions() as session, session.begin():
        for key, test, status in (("test2", True, "ACTIVE"), ("test3", True, "ACTIVE"), ("live2", False, "ACTIVE"),
                                  ("live3", False, "ACTIVE"), ("asleep", False, "INACTIVE")):
            org = await add_organization(session, f"{key}.example")
            row = SolutionInstance(solution_id=vworld.solution, organization_id=org,
                                   installed_version_id=vworld.versions["1.0.0"], account_status=status,
                                   is_test_account=test)
            session.add(row)
            await session.flush()
            ids[key] = row.id
    return ids


async def test_bulk_upgrade_stops_before_live_accounts_when_a_test_account_fails(runtime, vworld: VerticalWorld) -> None:
    ids = await _mixed_fleet(runtime, vworld)
    failing_instance = ids["test2"]
    seen: list[upgrades.UpgradeJob] = []

    async def runner(job: upgrades.UpgradeJob) -> None:
        seen.append(job)
        if job.instance_id == failing_instance:
            raise RuntimeError("schema migration failed")

    async with runtime.sessions() as session, session.begin():
        report = await upgrades.upgrade_instances(session, vworld.solution, [], runner, None)
    assert [job.is_test_account for job in seen] == [True, True, True]
    by_instance = {u.instance_id: u.status for u in report.upgrades}
    assert by_instance == {ids["unverified"]: "COMPLETED", ids["test2"]: "FAILED", ids["test3"]: "COMPLETED"}
    skipped = {instance.id: reason for instance, reason in report.skipped}
    assert skipped == {ids["acme"]: "TEST_ACCOUNT_FAILED", ids["live2"]: "TEST_ACCOUNT_FAILED",
                       ids["live3"]: "TEST_ACCOUNT_FAILED", ids["asleep"]: "INSTANCE_INACTIVE",
                       ids["direct"]: "TEST_ACCOUNT_FAILED"}
    async with runtime.sessions() as session:
        live = (await session.scalars(select(SolutionInstance).where(SolutionInstance.is_test_account.is_(False)))).all()
        assert {i.installed_version_id for i in live} <= {vworld.versions["1.0.0"], vworld.versions["1.1.0"]}
        live_upgrades = (await session.scalars(select(SolutionUpgrade).where(
            SolutionUpgrade.instance_id.in_([i.id for i in live])))).all()
        assert live_upgrades == []


async def test_bulk_upgrade_reaches_live_accounts_when_tests_pass(runtime, vworld: VerticalWorld) -> None:
    ids = await _mixed_fleet(runtime, vworld)
    async with runtime.sessions() as session, session.begin():
        report = await upgrades.upgrade_instances(session, vworld.solution, [], upgrades.default_runner, None)
    order = [u.instance_id for u in report.upgrades]
    assert order[:3] == sorted([ids["unverified"], ids["test2"], ids["test3"]])
    assert set(order[3:]) == {ids["acme"], ids["direct"], ids["live2"], ids["live3"]}
    assert all(u.status == "COMPLETED" for u in report.upgrades)
    assert [(i.id, r) for i, r in report.skipped] == [(ids["asleep"], "INSTANCE_INACTIVE")]


async def test_bulk_upgrade_without_test_first_does_not_stop(runtime, vworld: VerticalWorld) -> None:
    ids = await _mixed_fleet(runtime, vworld)

    async def runner(job: upgrades.UpgradeJob) -> None:
        if job.instance_id == ids["unverified"]:
            raise RuntimeError("boom")

    async with runtime.sessions() as session, session.begin():
        report = await upgrades.upgrade_instances(session, vworld.solution, [], runner, None,
                                                  test_accounts_first=False)
    assert [u.instance_id for u in report.upgrades] == sorted(
        [ids[k] for k in ("acme", "direct", "unverified", "test2", "test3", "live2", "live3")])
    assert len(report.failed) == 1


async def test_bulk_upgrade_skips_instances_already_on_latest(runtime, vworld: VerticalWorld) -> None:
    async with runtime.sessions() as session, session.begin():
        await upgrades.upgrade_instance(session, vworld.instances["direct"], upgrades.default_runner, None)
        report = await upgrades.upgrade_instances(
            session, vworld.solution, customer_conditions(CustomerFilter(instance_ids=[vworld.instances["direct"]])),
            upgrades.default_runner, None)
    assert report.upgrades == [] and [r for _, r in report.skipped] == ["ALREADY_LATEST_VERSION"]


# ---------------------------------------------------------------- developer access
async def _instance(session: Any, pk: int) -> SolutionInstance:
    return await solutions.load_instance_for_update(session, pk)


async def test_request_grant_revoke_cycle_sends_emails(runtime, vworld: VerticalWorld) -> None:
    outbox = Outbox()
    developer = vworld.world.user_ids["developer"]
    boss = vworld.world.user_ids["org_super_admin"]
    async with runtime.sessions() as session, session.begin():
        instance = await _instance(session, vworld.instances["acme"])
        access = await developer_access.request_access(session, instance, developer, outbox)
        assert access.status == "REQUESTED" and access.requested_by_user_id == developer
        assert [m["to"] for m in outbox.messages] == ["boss@acme.example"]
        assert outbox.messages[0]["template"] == "vertical.developer_access_requested"
        for attempt in ("request",):
            with pytest.raises(DomainError) as error:
                await developer_access.request_access(session, instance, developer, outbox)
            assert error.value.code == "DEVELOPER_ACCESS_EXISTS" and "already exists" in error.value.message, attempt
        access = await developer_access.grant_access(session, instance, boss, outbox)
        assert access.status == "GRANTED" and access.access_code
        granted_mail = outbox.messages[-1]
        assert granted_mail["to"] == "dev@devco.example"
        assert developer_access.access_url(instance.id, access.access_code) in granted_mail["body"]
        with pytest.raises(DomainError) as error:
            await developer_access.request_access(session, instance, developer, outbox)
        assert error.value.code == "DEVELOPER_ACCESS_EXISTS"
        with pytest.raises(DomainError) as error:
            await developer_access.grant_access(session, instance, boss, outbox)
        assert error.value.code == "DEVELOPER_ACCESS_EXISTS"
        access = await developer_access.revoke_access(session, instance, boss, outbox)
        assert access.status == "REVOKED" and access.access_code is None
        assert outbox.messages[-1]["template"] == "vertical.developer_access_revoked"
        with pytest.raises(DomainError) as error:
            await developer_access.revoke_access(session, instance, boss, outbox)
        assert error.value.code == "NO_DEVELOPER_ACCESS"
        again = await developer_access.request_access(session, instance, developer, outbox)
        assert again.status == "REQUESTED" and again.revoked_at is None


async def test_grant_without_request_emails_the_developer_partner(runtime, vworld: VerticalWorld) -> None:
    outbox = Outbox()
    async with runtime.sessions() as session, session.begin():
        instance = await _instance(session, vworld.instances["acme"])
        access = await developer_access.grant_access(session, instance, vworld.world.user_ids["org_super_admin"], outbox)
        assert access.requested_at is None and access.status == "GRANTED"
    assert [m["to"] for m in outbox.messages] == ["dev@devco.example"]
    assert "https://" in outbox.messages[0]["body"]


async def test_request_refused_for_inactive_instance(runtime, vworld: VerticalWorld) -> None:
    outbox = Outbox()
    async with runtime.sessions() as session, session.begin():
        await solutions.set_account_status(session, vworld.instances["acme"], "INACTIVE")
        instance = await _instance(session, vworld.instances["acme"])
        with pytest.raises(DomainError) as error:
            await developer_access.request_access(session, instance, vworld.world.user_ids["developer"], outbox)
        assert error.value.code == "INSTANCE_INACTIVE"
    assert outbox.messages == []


# ---------------------------------------------------------------- customer filter
async def _matching(runtime, vworld: VerticalWorld, filter: CustomerFilter) -> set[str]:
    names = {pk: key for key, pk in vworld.instances.items()}
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(SolutionInstance.id).where(
            SolutionInstance.solution_id == vworld.solution, *customer_conditions(filter)))).all()
    return {names[pk] for pk in rows}


async def test_customer_filter_conditions(runtime, vworld: VerticalWorld) -> None:
    today = utcnow().date()
    assert await _matching(runtime, vworld, CustomerFilter()) == {"acme", "direct", "unverified"}
    assert await _matching(runtime, vworld, CustomerFilter(plan_codes=["VERTICAL_STARTER"])) == {"acme"}
    assert await _matching(runtime, vworld, CustomerFilter(user_types=["FREE"])) == {"direct", "unverified"}
    assert await _matching(runtime, vworld, CustomerFilter(app_versions=["1.0.0"])) == {"acme", "unverified"}
    assert await _matching(runtime, vworld, CustomerFilter(
        transaction_date_from=today - dt.timedelta(days=2), transaction_date_to=today)) == {"acme"}
    assert await _matching(runtime, vworld, CustomerFilter(
        transaction_date_to=today - dt.timedelta(days=40))) == {"direct"}
    assert await _matching(runtime, vworld, CustomerFilter(
        instance_ids=[vworld.instances["direct"]], app_versions=["1.0.0"])) == set()
    assert await _matching(runtime, vworld, CustomerFilter(account_statuses=["INACTIVE"])) == set()
    with pytest.raises(DomainError):
        customer_conditions(CustomerFilter(user_types=["GOLD"]))
    with pytest.raises(DomainError):
        customer_conditions(CustomerFilter(transaction_date_from=today, transaction_date_to=today - dt.timedelta(days=1)))
