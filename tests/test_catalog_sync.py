"""The catalog declared by plugins (issue 13): `gateway catalog sync` writes every enabled plugin's declarations.

A fresh database after `gateway db upgrade` can take orders without the demo seed; the sync is
idempotent, never changes a row that exists (a changed price survives and is reported as
drift), refuses a code two plugins declare (naming both), leaves a disabled plugin's product
out, and a malformed declaration fails where it is made, naming the code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import func, select, update

from gateway.auth import get_or_create_user, issue_token
from gateway.catalog import run_catalog_seeders, sync_if_empty
from gateway.db import utcnow
from gateway.demo import seed_demo
from gateway.hookspecs import hookimpl
from gateway.migrations import upgrade_heads
from gateway.plugins import create_plugin_manager
from gateway.relay import encode_id
from gateway.runtime import Runtime
from gateway.settings import load_settings
from gateway.testing import fresh_database, run_query, shared_runtime
from plugins.certificates.models import CertificateType
from plugins.mail.catalog import CATALOG as MAIL
from schema import models
from schema.catalog.declaration import AddOnSpec, CatalogDeclarationError, PlanSpec, ProductSpec
from schema.catalog.service import CatalogConflict, declared_catalog, sync_catalog

ADD = """mutation($input: AddSubscriptionInput!) { addSubscription(input: $input) {
  subscription { status plan { code pricePerLicense { amount } } } userErrors { code message } } }"""



async def customer_and_admin(runtime: Runtime) -> dict[str, str]:
    """One organization to order for and a platform admin's token: no demo data."""
    async with runtime.sessions() as session, session.begin():
        organization = models.Organization(name="Acme", domain="acme.example", domain_verified=True, status="ACTIVE",
                                           domain_verification_code="verify-acme", created_at=utcnow())
        session.add(organization)
        admin = await get_or_create_user(session, "ops@platform.example", "Ops", "ADMIN")
        _, token = await issue_token(session, admin, "ops")
        await session.flush()
        return {"token": token, "organization": encode_id("Organization", organization.id)}


def order(ids: dict[str, str], plan: str) -> dict[str, Any]:
    return {"input": {"organizationId": ids["organization"], "planCode": plan, "licenseCount": 3, "trial": True,
                      "idempotencyKey": f"sync-{plan}"}}


async def test_a_fresh_database_after_db_upgrade_takes_orders(backend: str, tmp_path: Path) -> None:
    """`gateway db upgrade`'s two steps (migrations, then the sync of an empty catalog) on an empty database."""
    pm = create_plugin_manager(None)
    async with fresh_database(backend, tmp_path, "catalog") as (engine, url):
        await upgrade_heads(pm, engine, url)
        said = await sync_if_empty(pm, engine)
        assert said is not None and said.startswith("the catalog was empty, so it was synced: added certificates: "
                                                    "1 products, 1 plans, 6 certificate types; ")
        assert await sync_if_empty(pm, engine) is None  # not empty any more: db upgrade leaves it alone
        runtime = Runtime(load_settings(database_url=url), engine=engine)
        ids = await customer_and_admin(runtime)
        for plan, price in (("MAIL_STANDARD", "4.00"), ("VERTICAL_STARTER", "15.00"), ("DESK_STANDARD", "12.00")):
            added = (await run_query(runtime, ADD, order(ids, plan), token=ids["token"])).ok()["addSubscription"]
            assert added == {"subscription": {"status": "TRIAL", "plan": {"code": plan,
                                                                          "pricePerLicense": {"amount": price}}},
                             "userErrors": []}, plan
        async with runtime.sessions() as session:  # no demo rows
            assert await session.scalar(select(func.count()).select_from(models.Organization)) == 1
            assert await session.scalar(select(func.count()).select_from(models.Partner)) == 0


async def test_db_upgrade_on_a_catalog_with_rows_adds_nothing(backend: str, tmp_path: Path) -> None:
    pm = create_plugin_manager(None)
    async with fresh_database(backend, tmp_path, "catalog") as (engine, url):
        await upgrade_heads(pm, engine, url)
        runtime = Runtime(load_settings(database_url=url), engine=engine)
        async with runtime.sessions() as session, session.begin():
            await sync_catalog(session, {"mail": [MAIL]})  # someone synced only mail before
        said = await sync_if_empty(pm, engine)  # adds nothing, but says what the enabled plugins declare beyond it
        assert said is not None and said.startswith("the catalog lacks what enabled plugins declare (")
        assert said.endswith("); run `gateway catalog sync` to add it") and "vertical: 1 products, 2 plans, 1 add-ons" in said
        assert "mail:" not in said
        async with runtime.sessions() as session:
            assert set((await session.scalars(select(models.Product.code))).all()) == {"MAIL"}
            assert await session.scalar(select(func.count()).select_from(CertificateType)) == 0


@pytest.fixture
async def everything(backend: str) -> AsyncIterator[Any]:
    """Every installed plugin's tables, emptied; no catalog."""
    yield await shared_runtime(backend, None)


async def test_sync_twice_adds_nothing_the_second_time(everything: Any) -> None:
    pm = everything.plugin_manager
    async with everything.sessions() as session, session.begin():
        first = await run_catalog_seeders(pm, session)
    async with everything.sessions() as session, session.begin():
        second = await run_catalog_seeders(pm, session)
    assert first.added["mail"] == {"products": 1, "plans": 3, "add-ons": 1}
    assert set(first.added) == {"certificates", "desk_im", "mail", "vertical"}  # the core declares nothing
    assert not second.added_anything and second.drift == []
    async with everything.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(models.Plan)) == 8
        assert await session.scalar(select(func.count()).select_from(models.AddOn)) == 4


async def test_a_price_changed_in_the_database_survives_the_sync_and_is_reported(everything: Any) -> None:
    pm = everything.plugin_manager
    async with everything.sessions() as session, session.begin():
        await run_catalog_seeders(pm, session)
        await session.execute(update(models.Plan).where(models.Plan.code == "MAIL_STANDARD")
                              .values(price_per_license=Decimal("4.50"), name="Mail Standard 2"))
        await session.execute(update(models.AddOn).where(models.AddOn.code == "DESK_SMS")
                              .values(unit_price=Decimal("0.06")))
        await session.execute(update(CertificateType).where(CertificateType.code == "DV")
                              .values(unit_price=Decimal("55.00")))
    async with everything.sessions() as session, session.begin():
        outcome = await run_catalog_seeders(pm, session)
    assert not outcome.added_anything
    assert sorted(outcome.drift) == [
        "add-on DESK_SMS (desk_im): unit_price declared 0.05, database 0.06",
        "certificate type DV (certificates): unit_price declared 49.00, database 55.00",
        "plan MAIL_STANDARD (mail): name declared Mail Standard, database Mail Standard 2",
        "plan MAIL_STANDARD (mail): price_per_license declared 4.00, database 4.50",
    ]
    async with everything.sessions() as session:
        plan = await session.scalar(select(models.Plan).where(models.Plan.code == "MAIL_STANDARD"))
        assert plan is not None and plan.price_per_license == Decimal("4.50") and plan.name == "Mail Standard 2"
        assert await session.scalar(select(CertificateType.unit_price).where(CertificateType.code == "DV")) \
            == Decimal("55.00")


async def test_a_plan_under_another_product_is_drift(everything: Any) -> None:
    other = ProductSpec(code="OTHER", name="Other")
    moved = ProductSpec(code="OTHER", name="Other", plans=(MAIL.plans[0],))
    async with everything.sessions() as session, session.begin():
        await sync_catalog(session, {"mail": [MAIL], "other": [other]})
        result = await sync_catalog(session, {"other": [moved]})
    assert result.added == {} and [str(d) for d in result.drift] == [
        "plan MAIL_STANDARD (other): product declared OTHER, database MAIL"]


class Copycat:
    """A plugin declaring a plan code the mail plugin declares too."""

    @hookimpl
    def gateway_catalog(self) -> list[ProductSpec]:
        return [ProductSpec(code="COPY", name="Copy", plans=(
            PlanSpec(code="MAIL_PREMIUM", name="Copied", price_per_license=Decimal("1.00")),))]


async def test_a_code_two_plugins_declare_is_refused_naming_both(everything: Any) -> None:
    pm = create_plugin_manager(["mail"], extra_plugins=[("copycat", Copycat())])
    async with everything.sessions() as session:
        with pytest.raises(CatalogConflict) as refused:
            async with session.begin():
                await run_catalog_seeders(pm, session)
    assert str(refused.value) == ("the plan code MAIL_PREMIUM is declared by two plugins, 'mail' and 'copycat': "
                                  "one of them must use another code (or be disabled)")
    async with everything.sessions() as session:  # nothing was written
        assert await session.scalar(select(func.count()).select_from(models.Product)) == 0
    with pytest.raises(CatalogConflict, match="plugin 'mail' declares the product code MAIL twice"):
        async with everything.sessions() as session, session.begin():
            await sync_catalog(session, {"mail": [MAIL, MAIL]})


async def test_a_disabled_plugin_s_product_is_not_synced(everything: Any) -> None:
    pm = create_plugin_manager(["mail", "certificates"])
    async with everything.sessions() as session, session.begin():
        outcome = await run_catalog_seeders(pm, session)
    assert set(outcome.added) == {"certificates", "mail"}
    async with everything.sessions() as session:
        assert set((await session.scalars(select(models.Product.code))).all()) == {"CERTIFICATES", "MAIL"}


class Sloppy:
    @hookimpl
    def gateway_catalog(self) -> Any:
        return [{"code": "BACKUP"}]


def test_an_answer_that_is_not_a_declaration_names_the_plugin() -> None:
    pm = create_plugin_manager(["core"], extra_plugins=[("sloppy", Sloppy())])
    with pytest.raises(CatalogConflict, match=r"plugin 'sloppy' answered gateway_catalog with \[\{'code': 'BACKUP'\}\]; "
                                              "expected a list of schema.catalog.declaration.ProductSpec"):
        declared_catalog(pm)


PLAN = {"code": "BACKUP_STANDARD", "name": "Backup Standard", "price_per_license": Decimal("3.00")}
ADD_ON = {"code": "BACKUP_EXTRA_GB", "name": "Backup extra storage", "unit_price": Decimal("0.10"),
          "billing": "PREPAID", "unit": "GB"}


@pytest.mark.parametrize(("kind", "change", "message"), [
    (PlanSpec, {"code": "backup_standard"}, "plan 'backup_standard': the code must be UPPER_SNAKE"),
    (PlanSpec, {"code": "BACKUP__STANDARD"}, "plan 'BACKUP__STANDARD': the code must be UPPER_SNAKE"),
    (PlanSpec, {"currency": "usd"}, "plan 'BACKUP_STANDARD': currency must be three capital letters"),
    (PlanSpec, {"currency": "XYZ"}, "plan 'BACKUP_STANDARD': currency 'XYZ' is not a supported ISO 4217 currency"),
    (PlanSpec, {"billing_period": "WEEKLY"}, "billing_period must be MONTHLY or YEARLY, not 'WEEKLY'"),
    (PlanSpec, {"price_per_license": Decimal("-1")}, "price_per_license must not be negative (-1)"),
    (PlanSpec, {"price_per_license": 3.0}, "price_per_license must be a Decimal (e.g. Decimal(\"4.00\")), not float"),
    (PlanSpec, {"storage_price_per_gb": Decimal("0.00001")}, "storage_price_per_gb has more than 4 decimals"),
    (PlanSpec, {"trial_days": -1}, "trial_days must be a whole number, not negative (-1)"),
    (PlanSpec, {"name": " "}, "name must be a non-empty string"),
    (AddOnSpec, {"billing": "LATER"}, "add-on 'BACKUP_EXTRA_GB': billing must be PREPAID or POSTPAID, not 'LATER'"),
    (AddOnSpec, {"unit_price": Decimal("-0.10")}, "unit_price must not be negative"),
])
def test_a_bad_declaration_fails_where_it_is_made_naming_the_code(kind: Any, change: dict[str, Any],
                                                                  message: str) -> None:
    values = {**(PLAN if kind is PlanSpec else ADD_ON), **change}
    with pytest.raises(CatalogDeclarationError) as refused:
        kind(**values)
    assert message in str(refused.value) and str(refused.value).startswith("catalog declaration of ")


def test_a_product_declaring_a_plan_twice_or_not_a_plan_is_refused() -> None:
    plan = PlanSpec(**PLAN)
    with pytest.raises(CatalogDeclarationError, match="product 'BACKUP': plans declares 'BACKUP_STANDARD' twice"):
        ProductSpec(code="BACKUP", name="Backup", plans=(plan, plan))
    with pytest.raises(CatalogDeclarationError, match="product 'BACKUP': add_ons holds .* not a AddOnSpec"):
        ProductSpec(code="BACKUP", name="Backup", add_ons=cast(Any, (plan,)))
    with pytest.raises(CatalogDeclarationError, match="plans must be a tuple of PlanSpec, not list"):
        ProductSpec(code="BACKUP", name="Backup", plans=cast(Any, [plan]))


# ---------------------------------------------------------------- the demo follows the enabled plugins
@pytest.mark.parametrize(("plugins", "products"), [(["core"], set()), (["mail"], {"MAIL"})])
async def test_the_demo_subscribes_only_to_plans_that_exist(backend: str, plugins: list[str],
                                                            products: set[str]) -> None:
    runtime = await shared_runtime(backend, plugins)
    demo = await seed_demo(runtime)
    assert set(demo.extra["catalog"].added) == ({"mail"} if products else set())
    again = await seed_demo(runtime)
    assert not again.extra["catalog"].added_anything
    async with runtime.sessions() as session:
        assert set((await session.scalars(select(models.Product.code))).all()) == products
        subscribed = set((await session.scalars(
            select(models.Product.code).join(models.Subscription,
                                             models.Subscription.product_id == models.Product.id))).all())
        assert subscribed == products
        assert await session.scalar(select(func.count()).select_from(models.Organization)) >= 50
