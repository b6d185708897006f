"""GraphQL-level tests of billing: the card on file for every role, card-number refusals, billing reads."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.db import utcnow
from gateway.testing import run_query
from schema import models
from schema.models import AuditEvent
from schema.testing import ROLES, World, build_world

OK = "OK"
BILLING_MANAGERS = {"platform_admin", "reseller_admin", "org_super_admin"}

UPDATE = """mutation($input: UpdatePaymentMethodInput!) { updatePaymentMethod(input: $input) {
  paymentMethod { owner brand last4 expMonth expYear holderName updatedAt } userErrors { code message field } } }"""
REMOVE = """mutation($input: OrganizationInput!) { removePaymentMethod(input: $input) {
  paymentMethod { last4 } userErrors { code message field } } }"""


def card(world: World, org: str = "acme", **patch: Any) -> dict[str, Any]:
    year = utcnow().year + 2
    return {"organizationId": world.org_id(org), "owner": "RESELLER_CARD", "cardToken": "tok_visa_123",
            "brand": "VISA", "last4": "4242", "expMonth": 7, "expYear": year, "holderName": "Pat Partner", **patch}


async def with_card(runtime: Any, world: World, org: str = "acme") -> None:
    async with runtime.sessions() as session, session.begin():
        session.add(models.PaymentMethod(organization_id=world.organizations[org], owner="CUSTOMER_CARD",
                                         processor_token="tok_old", brand="AMEX", last4="0005", exp_month=1,
                                         exp_year=2099))


def outcome_of(result: Any, field: str) -> str:
    if result.errors:
        return result.error_codes[0]
    errors = result.data[field]["userErrors"]
    return errors[0]["code"] if errors else OK


def expected(role: str) -> str:
    if role == "anonymous":
        return "UNAUTHENTICATED"
    return OK if role in BILLING_MANAGERS else "FORBIDDEN"


@pytest.mark.parametrize("role", ROLES)
async def test_update_payment_method_for_role(runtime: Any, role: str) -> None:
    world = await build_world(runtime)
    result = await run_query(runtime, UPDATE, {"input": card(world)}, token=world.tokens[role])
    assert outcome_of(result, "updatePaymentMethod") == expected(role), role
    async with runtime.sessions() as session:
        stored = (await session.scalars(select(models.PaymentMethod))).all()
        audits = await session.scalar(select(func.count()).select_from(AuditEvent)
                                      .where(AuditEvent.action == "payment_method.update"))
    if expected(role) == OK:
        method = result.data["updatePaymentMethod"]["paymentMethod"]
        assert method["owner"] == "RESELLER_CARD" and method["brand"] == "VISA" and method["last4"] == "4242"
        assert [s.processor_token for s in stored] == ["tok_visa_123"] and audits == 1
    else:
        assert stored == [] and audits == 0


@pytest.mark.parametrize("role", ROLES)
async def test_remove_payment_method_for_role(runtime: Any, role: str) -> None:
    world = await build_world(runtime)
    await with_card(runtime, world)
    result = await run_query(runtime, REMOVE, {"input": {"organizationId": world.org_id("acme")}}, token=world.tokens[role])
    assert outcome_of(result, "removePaymentMethod") == expected(role), role
    async with runtime.sessions() as session:
        left = await session.scalar(select(func.count()).select_from(models.PaymentMethod))
    assert left == (0 if expected(role) == OK else 1)


async def test_update_replaces_the_card_and_remove_twice_is_a_user_error(runtime: Any) -> None:
    world = await build_world(runtime)
    await with_card(runtime, world, "direct")
    token = world.tokens["direct_super_admin"]
    data = (await run_query(runtime, UPDATE, {"input": card(world, "direct", owner="CUSTOMER_CARD", last4="1881")},
                            token=token)).ok()
    assert data["updatePaymentMethod"]["paymentMethod"]["last4"] == "1881"
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(models.PaymentMethod)) == 1
    removed = (await run_query(runtime, REMOVE, {"input": {"organizationId": world.org_id("direct")}}, token=token)).ok()
    assert removed["removePaymentMethod"]["paymentMethod"]["last4"] == "1881"
    again = (await run_query(runtime, REMOVE, {"input": {"organizationId": world.org_id("direct")}}, token=token)).ok()
    assert again["removePaymentMethod"]["userErrors"][0]["code"] == "NO_PAYMENT_METHOD"


FULL_NUMBER = "4111 1111 1111 1111"


@pytest.mark.parametrize("patch, code, field", [
    ({"cardToken": "4111111111111111"}, "CARD_NUMBER_NOT_ACCEPTED", ["cardToken"]),
    ({"holderName": FULL_NUMBER}, "CARD_NUMBER_NOT_ACCEPTED", ["holderName"]),
    ({"holderName": "Pat 4111.1111.1111.1111"}, "CARD_NUMBER_NOT_ACCEPTED", ["holderName"]),
    ({"holderName": "Pat 123"}, "CVV_NOT_ACCEPTED", ["holderName"]),
    ({"holderName": "Pat 2nd"}, "INVALID_HOLDER_NAME", ["holderName"]),
    ({"cardToken": "tok_4111_1111_1111_1111"}, "CARD_NUMBER_NOT_ACCEPTED", ["cardToken"]),
    ({"cardToken": "tok_12345678"}, "INVALID_CARD_TOKEN", ["cardToken"]),
    ({"cardToken": "tok_short"}, "INVALID_CARD_TOKEN", ["cardToken"]),
    ({"cardToken": "pm_card_visa_abc"}, "INVALID_CARD_TOKEN", ["cardToken"]),
    ({"last4": "4111111111111111"}, "CARD_NUMBER_NOT_ACCEPTED", ["last4"]),
    ({"last4": "42"}, "INVALID_LAST4", ["last4"]),
    ({"last4": "42a2"}, "INVALID_LAST4", ["last4"]),
    ({"expMonth": 13}, "INVALID_EXPIRY", ["expMonth"]),
    ({"expMonth": 1, "expYear": 2020}, "CARD_EXPIRED", ["expYear"]),
    ({"cardToken": "  "}, "INVALID_CARD_TOKEN", ["cardToken"]),
])
async def test_card_input_refusals(runtime: Any, patch: dict[str, Any], code: str, field: list[str]) -> None:
    world = await build_world(runtime)
    result = await run_query(runtime, UPDATE, {"input": card(world, **patch)}, token=world.tokens["reseller_admin"])
    [error] = result.ok()["updatePaymentMethod"]["userErrors"]
    assert (error["code"], error["field"]) == (code, field)
    if code == "CARD_NUMBER_NOT_ACCEPTED":
        assert "1111" not in error["message"] and "tokenize" in error["message"]
    async with runtime.sessions() as session:  # nothing stored, nothing audited
        assert await session.scalar(select(func.count()).select_from(models.PaymentMethod)) == 0
        assert await session.scalar(select(func.count()).select_from(AuditEvent)) == 0


@pytest.mark.parametrize("brand", ["visa", "VISA 5500-0000-0000-0004", "Maestro"])
async def test_brand_is_one_of_the_card_brands(runtime: Any, brand: str) -> None:
    world = await build_world(runtime)
    result = await run_query(runtime, UPDATE, {"input": card(world, brand=brand)}, token=world.tokens["reseller_admin"])
    assert result.errors and result.data is None and "CardBrand" in result.errors[0]["message"]
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(models.PaymentMethod)) == 0


async def test_a_cvv_field_does_not_exist(runtime: Any) -> None:
    world = await build_world(runtime)
    result = await run_query(runtime, UPDATE, {"input": {**card(world), "cvv": "123"}}, token=world.tokens["reseller_admin"])
    assert result.errors and "cvv" in result.errors[0]["message"]


async def test_a_direct_customer_cannot_pay_with_a_reseller_card(runtime: Any) -> None:
    world = await build_world(runtime)
    result = await run_query(runtime, UPDATE, {"input": card(world, "direct")}, token=world.tokens["direct_super_admin"])
    assert result.ok()["updatePaymentMethod"]["userErrors"][0]["code"] == "NO_RESELLER"


BILLING_READ = """query($id: ID!) { organization(id: $id) { paymentMethod { owner last4 }
  payments(first: 5) { totalCount nodes { amount { amount currency } cardOwner description } }
  upcomingInvoice { total { amount currency } } } }"""


@pytest.mark.parametrize("role, allowed", [
    ("org_super_admin", True), ("org_admin", True), ("reseller_admin", True), ("platform_admin", True),
    ("org_member", False), ("reseller_analyst", False), ("distributor_analyst", False), ("distributor_admin", False),
    ("platform_analyst", False),
])
async def test_billing_reads_are_refused_to_analysts(runtime: Any, role: str, allowed: bool) -> None:
    world = await build_world(runtime)
    await with_card(runtime, world)
    async with runtime.sessions() as session, session.begin():
        session.add(models.Payment(organization_id=world.organizations["acme"], amount=12, currency="USD",
                                   card_owner="CUSTOMER_CARD", description="x", processor_reference="r"))
    result = await run_query(runtime, BILLING_READ, {"id": world.org_id("acme")}, token=world.tokens[role])
    if allowed:
        data = result.ok()["organization"]
        assert data["paymentMethod"] == {"owner": "CUSTOMER_CARD", "last4": "0005"}
        assert data["payments"]["totalCount"] == 1 and data["payments"]["nodes"][0]["cardOwner"] == "CUSTOMER_CARD"
    else:
        # refused fields only (README "Refused fields"): null card and invoice, an empty payments connection,
        # one FORBIDDEN error at each field's path; nothing of the card leaks
        assert result.data["organization"] == {"paymentMethod": None, "payments": {"totalCount": 0, "nodes": []},
                                               "upcomingInvoice": None}
        assert sorted(e["path"][-1] for e in result.errors) == ["paymentMethod", "payments", "upcomingInvoice"]
        assert set(result.error_codes) == {"FORBIDDEN"}
        assert all(e["extensions"]["action"] == "organization.read_billing" for e in result.errors)
        card_only = await run_query(runtime, "query($id: ID!) { organization(id: $id) { domain paymentMethod { last4 } } }",
                                    {"id": world.org_id("acme")}, token=world.tokens[role])
        assert card_only.error_codes == ["FORBIDDEN"]
        assert card_only.data["organization"] == {"domain": "acme.example", "paymentMethod": None}


async def test_payment_node_is_hidden_from_those_who_cannot_read_billing(runtime: Any) -> None:
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        payment = models.Payment(organization_id=world.organizations["acme"], amount=5, currency="USD",
                                 card_owner="RESELLER_CARD", description="x", processor_reference="r")
        session.add(payment)
        await session.flush()
        from gateway.relay import encode_id
        payment_id = encode_id("Payment", payment.id)
    query = "query($id: ID!) { node(id: $id) { ... on Payment { amount { amount } organization { domain } } } }"
    seen = (await run_query(runtime, query, {"id": payment_id}, token=world.tokens["reseller_admin"])).ok()
    assert seen["node"] == {"amount": {"amount": "5.00"}, "organization": {"domain": "acme.example"}}
    hidden = (await run_query(runtime, query, {"id": payment_id}, token=world.tokens["reseller_analyst"])).ok()
    assert hidden["node"] is None
