"""Demo data: two solutions of the demo developer partner (APPSMITH), versions, and customer instances.

Idempotent: solutions are found by developer and name, versions by number, instances by
organization; nothing is added twice. Organizations that the core's seeder did not make are
skipped (rows are looked up by code, domain and email, so the seeder only needs the core's rows to
exist; it asks to run after the other seeders with ``trylast``). When the developer partner APPSMITH
is missing, a developer partner VERTDEV is created.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import utcnow
from gateway.demo import DemoData
from gateway.models import User
from plugins.vertical.models import DeveloperAccess, Solution, SolutionInstance, SolutionVersion
from plugins.vertical.services.solutions import parse_version, user_type_for, vertical_subscriptions
from schema.common import seeded_organizations, seeded_partners
from schema.models import Organization, Partner, Plan

DEVELOPER_CODE = "APPSMITH"
FALLBACK_DEVELOPER = ("VERTDEV", "Vertical Developers")

# name -> [(version, release notes)] in publication order
SOLUTIONS: dict[str, list[tuple[str, str]]] = {
    "Clinic Scheduler": [
        ("1.0.0", "First release: appointments, patient records, reminders by email."),
        ("1.1.0", "SMS reminders; calendar export."),
        ("1.2.0", "Waiting-list handling; faster search."),
        ("2.0.0", "New billing module; multi-site clinics. Requires a data migration."),
    ],
    "Shop Ledger": [
        ("1.0.0", "First release: sales, stock and daily cash-up."),
        ("1.0.1", "Fixes rounding of discounts on receipts."),
    ],
}

# (solution, domain, installed version, account status, test account, plan code, subscription status,
#  days since the last transaction, data MB used, file MB used, developer access)
INSTANCES = [
    ("Clinic Scheduler", "acme.example", "1.1.0", "ACTIVE", False, "VERTICAL_PROFESSIONAL", "ACTIVE", 1, 420, 2600, None),
    ("Clinic Scheduler", "umbrella.example", "1.0.0", "ACTIVE", False, "VERTICAL_STARTER", "ACTIVE", 3, 180, 900,
     "GRANTED"),
    ("Clinic Scheduler", "globex.example", "1.2.0", "TRIAL", False, "VERTICAL_STARTER", "TRIAL", 9, 20, 40, "REQUESTED"),
    ("Clinic Scheduler", "aurora-bakery.example", "1.2.0", "ACTIVE", True, "VERTICAL_STARTER", "TRIAL", 0, 5, 12, None),
    ("Clinic Scheduler", "blue-fjord-shipping.example", "1.1.0", "ACTIVE", True, None, None, 2, 3, 8, None),
    ("Clinic Scheduler", "cedar-dental.example", "1.0.0", "INACTIVE", False, "VERTICAL_STARTER", "ACTIVE", 95, 700,
     4100, None),
    ("Shop Ledger", "delta-logistics.example", "1.0.0", "ACTIVE", False, "VERTICAL_PROFESSIONAL", "ACTIVE", 4, 90, 300,
     None),
    ("Shop Ledger", "evergreen-schools.example", "1.0.1", "ACTIVE", True, None, None, 6, 2, 3, None),
]


async def _developer_partner(session: AsyncSession, demo: DemoData) -> int:
    partner_id = seeded_partners(demo).get(DEVELOPER_CODE) or await session.scalar(
        select(Partner.id).where(Partner.code == DEVELOPER_CODE))
    if partner_id is not None:
        return partner_id
    code, name = FALLBACK_DEVELOPER
    partner = await session.scalar(select(Partner).where(Partner.code == code))
    if partner is None:
        partner = Partner(name=name, code=code, kind="DEVELOPER", address={"city": "Berlin", "country": "DE"})
        session.add(partner)
        await session.flush()
    seeded_partners(demo)[code] = partner.id
    return partner.id


async def seed_demo(session: AsyncSession, demo: DemoData) -> None:
    developer_id = await _developer_partner(session, demo)
    now = utcnow()
    solutions: dict[str, int] = {}
    versions: dict[tuple[str, str], int] = {}
    for name, published in SOLUTIONS.items():
        solution = await session.scalar(select(Solution).where(
            Solution.developer_partner_id == developer_id, Solution.name == name))
        if solution is None:
            solution = Solution(developer_partner_id=developer_id, name=name, created_at=now - dt.timedelta(days=400))
            session.add(solution)
            await session.flush()
        solutions[name] = solution.id
        existing = {v.version: v.id for v in (await session.scalars(
            select(SolutionVersion).where(SolutionVersion.solution_id == solution.id))).all()}
        for age, (number, changes) in zip(range(len(published) * 60, 0, -60), published, strict=True):
            if number not in existing:
                major, minor, patch = parse_version(number)
                row = SolutionVersion(solution_id=solution.id, version=number, major=major, minor=minor, patch=patch,
                                      changes=changes, published_at=now - dt.timedelta(days=age))
                session.add(row)
                await session.flush()
                existing[number] = row.id
            versions[(name, number)] = existing[number]
    demo.extra["vertical_solutions"] = solutions

    plans = {code: pk for code, pk in (await session.execute(
        select(Plan.code, Plan.id).where(Plan.code.in_(["VERTICAL_STARTER", "VERTICAL_PROFESSIONAL"])))).all()}
    organizations = dict((await session.execute(select(Organization.domain, Organization.id).where(
        Organization.domain.in_([spec[1] for spec in INSTANCES])))).all())
    users = dict((await session.execute(select(User.email, User.id).where(
        User.email.in_(["dev@appsmith.example", "boss@umbrella.example"])))).all())
    subscriptions = await vertical_subscriptions(session, organizations.values())
    for (solution_name, domain, version, status, test, plan_code, sub_status, days, data_mb, file_mb,
         access) in INSTANCES:
        organization_id = seeded_organizations(demo).get(domain) or organizations.get(domain)
        if organization_id is None:
            continue
        solution_id = solutions[solution_name]
        found = await session.scalar(select(SolutionInstance.id).where(
            SolutionInstance.solution_id == solution_id, SolutionInstance.organization_id == organization_id))
        if found is not None:
            continue
        subscription = subscriptions.get(organization_id)
        instance = SolutionInstance(
            solution_id=solution_id, organization_id=organization_id, installed_version_id=versions[(solution_name, version)],
            account_status=status, is_test_account=test,
            # the organization's real VERTICAL subscription wins over the sketch above
            plan_id=subscription.plan_id if subscription else plans.get(plan_code) if plan_code else None,
            user_type=subscription.user_type if subscription else user_type_for(sub_status) if plan_code in plans
            else "FREE",
            last_transaction_at=now - dt.timedelta(days=days), data_used_mb=data_mb, file_used_mb=file_mb,
            installed_at=now - dt.timedelta(days=200),
        )
        session.add(instance)
        await session.flush()
        if access is not None:
            session.add(DeveloperAccess(
                instance_id=instance.id, status=access, requested_at=now - dt.timedelta(days=2),
                requested_by_user_id=users.get("dev@appsmith.example"),
                granted_at=now - dt.timedelta(days=1) if access == "GRANTED" else None,
                granted_by_user_id=users.get("boss@umbrella.example") if access == "GRANTED" else None,
                access_code="demo-access" if access == "GRANTED" else None,
            ))
    await session.flush()
