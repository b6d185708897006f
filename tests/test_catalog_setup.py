"""A fresh production database: `db upgrade`, then `catalog seed` (issue 11, item 13; README "Production database").

Before the catalog step every order is a CATALOG_EMPTY user error that says what to do; after it,
orders work; running the step again changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gateway.auth import get_or_create_user, issue_token
from gateway.catalog import describe, seed_catalog
from gateway.cli import cli
from gateway.db import utcnow
from gateway.relay import encode_id
from gateway.testing import run_query, shared_runtime
from plugins.certificates.models import CertificateType
from schema import models

ADD = """mutation($input: AddSubscriptionInput!) { addSubscription(input: $input) {
  subscription { status plan { code } } userErrors { code message field } } }"""
DEAL = """mutation($input: SubmitLargeDealInput!) { submitLargeDeal(input: $input) {
  largeDeal { productCode } userErrors { code message } } }"""
CERTIFICATES = """mutation($input: AddCertificateSubscriptionsInput!) { addCertificateSubscriptions(input: $input) {
  subscriptions { plan { code } } userErrors { code message } } }"""
CATALOG_TABLES = [models.Product, models.Plan, models.AddOn, CertificateType]


@pytest.fixture
async def fresh(backend: str) -> AsyncIterator[tuple[Any, dict[str, str]]]:
    """Every plugin's tables, no catalog: one partner, one mapped organization, a platform admin."""
    runtime = await shared_runtime(backend, None)
    async with runtime.sessions() as session, session.begin():
        partner = models.Partner(name="Resell One", code="RESEL1", kind="RESELLER")
        session.add(partner)
        await session.flush()
        organization = models.Organization(name="Acme", domain="acme.example", domain_verified=True, status="ACTIVE",
                                           domain_verification_code="verify-acme",
                                           partner_id=partner.id, created_at=utcnow())
        session.add(organization)
        admin = await get_or_create_user(session, "ops@platform.example", "Ops", "ADMIN")
        _, token = await issue_token(session, admin, "ops")
        await session.flush()
        ids = {"token": token, "organization": encode_id("Organization", organization.id)}
    yield runtime, ids


def add_variables(ids: dict[str, str], plan: str = "MAIL_STANDARD") -> dict[str, Any]:
    return {"input": {"organizationId": ids["organization"], "planCode": plan, "licenseCount": 5, "trial": True,
                      "idempotencyKey": f"setup-{plan}"}}


async def catalog_rows(runtime: Any) -> list[tuple[Any, ...]]:
    async with runtime.sessions() as session:
        rows = []
        for table in CATALOG_TABLES:
            for row in (await session.scalars(select(table).order_by(table.id))).all():
                rows.append(tuple(sorted((k, str(v)) for k, v in vars(row).items() if not k.startswith("_"))))
        return rows


async def test_orders_on_an_empty_catalog_say_what_to_do(fresh: Any) -> None:
    runtime, ids = fresh
    orders = [
        (ADD, add_variables(ids), "addSubscription"),
        (DEAL, {"input": {"organizationId": ids["organization"], "productCode": "MAIL", "estimatedLicenses": 10,
                          "estimatedValue": {"amount": "100.00", "currency": "USD"},
                          "expectedCloseDate": (utcnow() + dt.timedelta(days=30)).date().isoformat()}},
         "submitLargeDeal"),
        (CERTIFICATES, {"input": {"organizationId": ids["organization"], "idempotencyKey": "c1", "subscriptions": [
            {"items": [{"certificateTypeCode": "DV", "quantity": 1}], "autoRenew": True}]}},
         "addCertificateSubscriptions"),
    ]
    for document, variables, name in orders:
        errors = (await run_query(runtime, document, variables, token=ids["token"])).ok()[name]["userErrors"]
        assert [e["code"] for e in errors] == ["CATALOG_EMPTY"], (name, errors)
        assert "gateway catalog seed" in errors[0]["message"] and "platform admin" in errors[0]["message"], name


async def test_after_the_catalog_step_orders_work_and_a_second_run_changes_nothing(fresh: Any) -> None:
    runtime, ids = fresh
    first = await seed_catalog(runtime)
    assert first["core"] == {"products": 4, "plans": 8, "add-ons": 4}
    assert first["certificates"] == {"certificate types": 6}
    rows = await catalog_rows(runtime)
    second = await seed_catalog(runtime)
    assert describe(second) == "nothing to add, the catalog was complete"
    assert await catalog_rows(runtime) == rows
    async with runtime.sessions() as session:  # the catalog step makes no demo rows
        assert await session.scalar(select(models.Organization.id).where(models.Organization.domain != "acme.example")) is None

    added = (await run_query(runtime, ADD, add_variables(ids), token=ids["token"])).ok()["addSubscription"]
    assert added == {"subscription": {"status": "TRIAL", "plan": {"code": "MAIL_STANDARD"}}, "userErrors": []}
    unknown = (await run_query(runtime, ADD, add_variables(ids, "MAIL_GOLD"), token=ids["token"])).ok()
    error = unknown["addSubscription"]["userErrors"][0]
    assert error["code"] == "UNKNOWN_PLAN" and "`products` query" in error["message"]


def test_db_upgrade_then_catalog_seed_from_the_command_line(tmp_path: Path) -> None:
    env = {"GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/gateway.db"}
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    first = runner.invoke(cli, ["catalog", "seed"], env=env)
    assert first.exit_code == 0, first.output
    assert "catalog added core: 4 products, 8 plans, 4 add-ons; certificates: 6 certificate types" in first.output
    again = runner.invoke(cli, ["catalog", "seed"], env=env)
    assert again.exit_code == 0 and "nothing to add" in again.output, again.output
    made = runner.invoke(cli, ["token", "create", "--user", "ops@example.com", "--platform-admin"], env=env)
    assert made.exit_code == 0, made.output


def test_catalog_seed_before_db_upgrade_is_one_line(tmp_path: Path) -> None:
    env = {"GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/gateway.db"}
    result = CliRunner().invoke(cli, ["catalog", "seed"], env=env)
    assert result.exit_code == 1
    assert "run `gateway db upgrade`" in result.output and len(result.output.strip().splitlines()) == 1
