"""A fresh production database: `db upgrade` (which syncs an empty catalog), `catalog sync` (issue 11, item 13;
issue 13; README "Production database").

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
        assert "gateway catalog sync" in errors[0]["message"] and "platform admin" in errors[0]["message"], name


async def test_after_the_catalog_step_orders_work_and_a_second_run_changes_nothing(fresh: Any) -> None:
    runtime, ids = fresh
    first = await seed_catalog(runtime)
    assert first.added == {  # each plugin's own declarations, in plugin order; the core declares none
        "certificates": {"products": 1, "plans": 1, "certificate types": 6},
        "desk_im": {"products": 1, "plans": 2, "add-ons": 2},
        "mail": {"products": 1, "plans": 3, "add-ons": 1},
        "vertical": {"products": 1, "plans": 2, "add-ons": 1},
    }
    assert list(first.added) == ["certificates", "desk_im", "mail", "vertical"] and first.drift == []
    rows = await catalog_rows(runtime)
    second = await seed_catalog(runtime)
    assert describe(second) == "had nothing to add (the catalog was complete)"
    assert await catalog_rows(runtime) == rows
    async with runtime.sessions() as session:  # the catalog step makes no demo rows
        assert await session.scalar(select(models.Organization.id).where(models.Organization.domain != "acme.example")) is None

    added = (await run_query(runtime, ADD, add_variables(ids), token=ids["token"])).ok()["addSubscription"]
    assert added == {"subscription": {"status": "TRIAL", "plan": {"code": "MAIL_STANDARD"}}, "userErrors": []}
    unknown = (await run_query(runtime, ADD, add_variables(ids, "MAIL_GOLD"), token=ids["token"])).ok()
    error = unknown["addSubscription"]["userErrors"][0]
    assert error["code"] == "UNKNOWN_PLAN" and "`products` query" in error["message"]


def test_db_upgrade_syncs_the_empty_catalog_and_catalog_sync_then_adds_nothing(tmp_path: Path) -> None:
    env = {"GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/gateway.db"}
    runner = CliRunner()
    upgraded = runner.invoke(cli, ["db", "upgrade"], env=env)
    assert upgraded.exit_code == 0, upgraded.output
    assert "the catalog was empty, so it was synced: added certificates: 1 products, 1 plans, 6 certificate types; " \
           "desk_im: 1 products, 2 plans, 2 add-ons; mail: 1 products, 3 plans, 1 add-ons; " \
           "vertical: 1 products, 2 plans, 1 add-ons" in upgraded.output, upgraded.output
    again = runner.invoke(cli, ["db", "upgrade"], env=env)  # the catalog is not empty any more: no sync
    assert again.exit_code == 0 and "catalog" not in again.output, again.output
    for command in ("sync", "seed"):  # `seed`: the former name
        synced = runner.invoke(cli, ["catalog", command], env=env)
        assert synced.exit_code == 0, synced.output
        assert "catalog sync had nothing to add (the catalog was complete)." in synced.output, synced.output
    made = runner.invoke(cli, ["token", "create", "--user", "ops@example.com", "--platform-admin"], env=env)
    assert made.exit_code == 0, made.output


def test_catalog_sync_before_db_upgrade_is_one_line(tmp_path: Path) -> None:
    env = {"GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/gateway.db"}
    result = CliRunner().invoke(cli, ["catalog", "sync"], env=env)
    assert result.exit_code == 1
    assert "run `gateway db upgrade`" in result.output and len(result.output.strip().splitlines()) == 1
