"""Large deals: validation (service), submitLargeDeal for every role, Partner.largeDeals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.db import utcnow
from gateway.errors import DomainError
from gateway.testing import run_query
from schema import models
from schema.access import authorize_organization
from schema.catalog.service import sync_catalog
from schema.deals.service import submit_large_deal
from schema.models import AuditEvent
from schema.testing import ROLES, World, build_world, declared_catalogs

OK = "OK"
SUBMITTERS = {"reseller_admin", "platform_admin"}
SUBMIT = """mutation($input: SubmitLargeDealInput!) { submitLargeDeal(input: $input) {
  largeDeal { id productCode estimatedLicenses estimatedValue { amount currency } expectedCloseDate notes status
    partner { code } organization { domain } } userErrors { code message field } } }"""


async def setup_world(runtime: Any) -> World:
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        await sync_catalog(session, declared_catalogs())  # every installed plugin's products
    return world


def deal(world: World, **patch: Any) -> dict[str, Any]:
    close = (utcnow() + dt.timedelta(days=60)).date().isoformat()
    return {"organizationId": world.org_id("acme"), "productCode": "MAIL", "estimatedLicenses": 2500,
            "estimatedValue": {"amount": "120000.00", "currency": "USD"}, "expectedCloseDate": close,
            "notes": "Group-wide rollout", **patch}


@pytest.mark.parametrize("kwargs, code", [
    ({"product_code": "NOPE"}, "UNKNOWN_PRODUCT"),
    ({"estimated_licenses": 0}, "INVALID_LICENSE_COUNT"),
    ({"estimated_value": Decimal("0")}, "INVALID_AMOUNT"),
    ({"estimated_value": Decimal("-5")}, "INVALID_AMOUNT"),
    ({"currency": "XXX"}, "INVALID_CURRENCY"),
    ({"expected_close_date": dt.date(2026, 3, 1)}, "CLOSE_DATE_NOT_IN_FUTURE"),
    ({"expected_close_date": dt.date(2026, 3, 2)}, "CLOSE_DATE_NOT_IN_FUTURE"),  # today is not the future
    ({"notes": "x" * 5001}, "NOTES_TOO_LONG"),
])
async def test_submit_large_deal_validation(runtime: Any, kwargs: dict[str, Any], code: str) -> None:
    world = await setup_world(runtime)
    arguments = {"product_code": "MAIL", "estimated_licenses": 10, "estimated_value": Decimal("100"),
                 "currency": "USD", "expected_close_date": dt.date(2026, 6, 1), "notes": None,
                 "today": dt.date(2026, 3, 2), **kwargs}
    async with runtime.context(token=world.tokens["reseller_admin"]) as ctx:
        with pytest.raises(DomainError) as error:
            async with ctx.transaction():
                decision = await authorize_organization(ctx, "large_deal.submit", world.organizations["acme"])
                await submit_large_deal(ctx, decision, world.organizations["acme"], **arguments)
    assert error.value.code == code
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(models.LargeDeal)) == 0


async def test_a_deal_belongs_to_the_submitting_partner(runtime: Any) -> None:
    world = await setup_world(runtime)
    async with runtime.context(token=world.tokens["reseller_admin"]) as ctx:
        async with ctx.transaction():
            decision = await authorize_organization(ctx, "large_deal.submit", world.organizations["acme"])
            row = await submit_large_deal(ctx, decision, world.organizations["acme"], product_code="desk",
                                          estimated_licenses=300, estimated_value=Decimal("9999.999"), currency="eur",
                                          expected_close_date=dt.date(2099, 1, 1), notes="  maybe  ")
    assert (row.partner_id, row.product_code, row.currency, row.estimated_value, row.notes) == (
        world.partners["reseller"], "DESK", "EUR", Decimal("10000.00"), "maybe")
    assert row.submitted_by_user_id == world.user_ids["reseller_admin"] and row.status == "SUBMITTED"


async def test_a_platform_admin_cannot_submit_for_a_direct_customer(runtime: Any) -> None:
    world = await setup_world(runtime)
    result = await run_query(runtime, SUBMIT, {"input": deal(world, organizationId=world.org_id("direct"))},
                             token=world.tokens["platform_admin"])
    assert result.ok()["submitLargeDeal"]["userErrors"][0]["code"] == "NO_PARTNER"


def expected(role: str) -> str:
    if role == "anonymous":
        return "UNAUTHENTICATED"
    return OK if role in SUBMITTERS else "FORBIDDEN"


@pytest.mark.parametrize("role", ROLES)
async def test_submit_large_deal_for_role(runtime: Any, role: str) -> None:
    world = await setup_world(runtime)
    result = await run_query(runtime, SUBMIT, {"input": deal(world)}, token=world.tokens[role])
    if result.errors:
        outcome = result.error_codes[0]
    else:
        errors = result.data["submitLargeDeal"]["userErrors"]
        outcome = errors[0]["code"] if errors else OK
    assert outcome == expected(role), role
    async with runtime.sessions() as session:
        deals = await session.scalar(select(func.count()).select_from(models.LargeDeal))
        audits = await session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "large_deal.submit"))
    assert (deals, audits) == ((1, 1) if outcome == OK else (0, 0))
    if outcome == OK:
        large = result.data["submitLargeDeal"]["largeDeal"]
        assert large["partner"]["code"] == "RESEL1" and large["organization"]["domain"] == "acme.example"
        assert large["estimatedValue"] == {"amount": "120000.00", "currency": "USD"} and large["status"] == "SUBMITTED"


@pytest.mark.parametrize("patch, code, field", [
    ({"estimatedLicenses": -1}, "INVALID_LICENSE_COUNT", ["estimatedLicenses"]),
    ({"estimatedValue": {"amount": "0", "currency": "USD"}}, "INVALID_AMOUNT", ["estimatedValue", "amount"]),
    ({"productCode": "BANANAS"}, "UNKNOWN_PRODUCT", ["productCode"]),
    ({"expectedCloseDate": "2020-01-01"}, "CLOSE_DATE_NOT_IN_FUTURE", ["expectedCloseDate"]),
])
async def test_submit_large_deal_user_errors(runtime: Any, patch: dict[str, Any], code: str, field: list[str]) -> None:
    world = await setup_world(runtime)
    result = await run_query(runtime, SUBMIT, {"input": deal(world, **patch)}, token=world.tokens["reseller_admin"])
    [error] = result.ok()["submitLargeDeal"]["userErrors"]
    assert (error["code"], error["field"]) == (code, field)


DEALS = """query($id: ID!) { partner(id: $id) { largeDeals(first: 10) { totalCount nodes { productCode notes } } } }"""


@pytest.mark.parametrize("role, visible", [("reseller_admin", True), ("reseller_analyst", True),
                                           ("distributor_admin", True), ("distributor_analyst", True),
                                           ("platform_analyst", True), ("other_partner_admin", False)])
async def test_partner_large_deals_newest_first(runtime: Any, role: str, visible: bool) -> None:
    world = await setup_world(runtime)
    for product, notes in (("MAIL", "first"), ("VERTICAL", "second")):
        (await run_query(runtime, SUBMIT, {"input": deal(world, productCode=product, notes=notes)},
                         token=world.tokens["reseller_admin"])).ok()
    result = await run_query(runtime, DEALS, {"id": world.partner_id("reseller")}, token=world.tokens[role])
    if visible:
        deals = result.ok()["partner"]["largeDeals"]
        assert deals["totalCount"] == 2 and [d["notes"] for d in deals["nodes"]] == ["second", "first"]
    else:
        assert result.ok()["partner"] is None  # another partner cannot see this partner at all
