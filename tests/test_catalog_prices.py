"""List price changes: changePlanPrice and changeAddOnPrice for every role, their refusals, the price history.

The world's catalog: MAIL_STANDARD 4.00 and MAIL_PREMIUM 8.00 per license (0.50 per GB above 5 GB),
plus the add-on MAIL_EXTRA_STORAGE at 2.00 added here. Every refused or invalid change writes nothing:
no history row, no audit event, the list price unchanged.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from gateway.db import utcnow
from gateway.errors import DomainError
from gateway.testing import count_statements, run_query
from schema import models
from schema.access import authorize_platform
from schema.catalog import prices
from schema.testing import ROLES, World, build_world

CHANGE_PLAN = """mutation($input: ChangePlanPriceInput!) { changePlanPrice(input: $input) {
  plan { code pricePerLicense { amount currency } storagePricePerGb { amount } }
  priceChanges { field previousAmount { amount currency } newAmount { amount currency } effectiveAt }
  userErrors { code field message } } }"""
CHANGE_ADD_ON = """mutation($input: ChangeAddOnPriceInput!) { changeAddOnPrice(input: $input) {
  addOn { code unitPrice { amount currency } }
  priceChanges { field previousAmount { amount } newAmount { amount } }
  userErrors { code field message } } }"""
HISTORY = """{ products { plans { code priceHistory { field previousAmount { amount } newAmount { amount }
  effectiveAt reason changedBy { email } } } addOns { code priceHistory { field newAmount { amount } reason } } } }"""


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


async def price_world(runtime: Any) -> World:
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        if await session.scalar(select(models.AddOn.id).where(models.AddOn.code == "MAIL_EXTRA_STORAGE")) is None:
            session.add(models.AddOn(product_id=world.products["MAIL"], code="MAIL_EXTRA_STORAGE", name="Mail extra storage",
                                     unit_price=Decimal("2.00"), currency="USD", billing="PREPAID", unit="10 GB"))
    return world


async def written(runtime: Any) -> tuple[int, int, Decimal, Decimal, Decimal]:
    """What a price change writes: history rows, audit events, and the three list prices it may touch."""
    async with runtime.sessions() as session:
        history = await session.scalar(select(func.count()).select_from(models.CatalogPriceChange))
        audits = await session.scalar(select(func.count()).select_from(models.AuditEvent)
                                      .where(models.AuditEvent.action == "catalog.change_price"))
        plan = await session.scalar(select(models.Plan).where(models.Plan.code == "MAIL_STANDARD"))
        add_on = await session.scalar(select(models.AddOn).where(models.AddOn.code == "MAIL_EXTRA_STORAGE"))
        assert plan is not None and add_on is not None
        return history or 0, audits or 0, plan.price_per_license, plan.storage_price_per_gb, add_on.unit_price


UNCHANGED = (0, 0, Decimal("4.0000"), Decimal("0.5000"), Decimal("2.0000"))


async def outcome(result: Any, field: str) -> str:
    if result.errors:
        return str(result.error_codes[0])
    errors = result.data[field]["userErrors"]
    return errors[0]["code"] if errors else "OK"


# ---------------------------------------------------------------- who may change prices
@pytest.mark.parametrize("role", ROLES)
async def test_only_platform_admins_change_prices(runtime: Any, role: str) -> None:
    world = await price_world(runtime)
    token = world.tokens[role]
    plan = await run_query(runtime, CHANGE_PLAN, {"input": {
        "planCode": "MAIL_STANDARD", "pricePerLicense": usd("5.00"), "reason": "2027 price list"}}, token=token)
    add_on = await run_query(runtime, CHANGE_ADD_ON, {"input": {
        "addOnCode": "MAIL_EXTRA_STORAGE", "unitPrice": usd("2.50"), "reason": "2027 price list"}}, token=token)
    expected = {"platform_admin": "OK", "anonymous": "UNAUTHENTICATED"}.get(role, "FORBIDDEN")
    assert (await outcome(plan, "changePlanPrice"), await outcome(add_on, "changeAddOnPrice")) == (expected, expected)
    if expected == "OK":
        assert await written(runtime) == (2, 2, Decimal("5.0000"), Decimal("0.5000"), Decimal("2.5000"))
    else:
        assert await written(runtime) == UNCHANGED
        if expected == "FORBIDDEN":
            assert plan.errors[0]["extensions"]["action"] == "catalog.change_price"


async def test_a_price_change_updates_the_list_price_records_history_and_audits(runtime: Any) -> None:
    world = await price_world(runtime)
    admin = world.tokens["platform_admin"]
    result = (await run_query(runtime, CHANGE_PLAN, {"input": {
        "planCode": " mail_standard ", "pricePerLicense": usd("4.50"), "storagePricePerGb": usd("0.0025"),
        "reason": "  Costs went up  "}}, token=admin)).ok()["changePlanPrice"]
    assert result["userErrors"] == []
    assert result["plan"] == {"code": "MAIL_STANDARD", "pricePerLicense": usd("4.50"),
                              "storagePricePerGb": {"amount": "0.0025"}}  # a sub-cent price shows its decimals
    assert [(c["field"], c["previousAmount"], c["newAmount"]) for c in result["priceChanges"]] == [
        ("PRICE_PER_LICENSE", usd("4.00"), usd("4.50")), ("STORAGE_PRICE_PER_GB", usd("0.50"), usd("0.0025"))]
    async with runtime.sessions() as session:
        [event] = (await session.scalars(select(models.AuditEvent)
                                         .where(models.AuditEvent.action == "catalog.change_price"))).all()
        rows = (await session.scalars(select(models.CatalogPriceChange).order_by(models.CatalogPriceChange.id))).all()
    assert event.actor_user_id == world.user_ids["platform_admin"] and event.via == "PLATFORM"
    assert event.details["planCode"] == "MAIL_STANDARD" and event.details["reason"] == "Costs went up"
    assert [(c["field"], c["from"], c["to"]) for c in event.details["changes"]] == [
        ("PRICE_PER_LICENSE", "4.0000", "4.5000"), ("STORAGE_PRICE_PER_GB", "0.5000", "0.0025")]
    assert {(r.plan_id, r.add_on_id, r.currency, r.reason, r.changed_by_user_id) for r in rows} == {
        (world.plans["MAIL_STANDARD"], None, "USD", "Costs went up", world.user_ids["platform_admin"])}
    assert rows[0].effective_at == rows[1].effective_at == rows[0].created_at


async def test_only_the_prices_that_differ_are_recorded(runtime: Any) -> None:
    world = await price_world(runtime)
    result = (await run_query(runtime, CHANGE_PLAN, {"input": {
        "planCode": "MAIL_STANDARD", "pricePerLicense": usd("4.0000"), "storagePricePerGb": usd("0.75"),
        "reason": "storage only"}}, token=world.tokens["platform_admin"])).ok()["changePlanPrice"]
    assert [c["field"] for c in result["priceChanges"]] == ["STORAGE_PRICE_PER_GB"]
    assert await written(runtime) == (1, 1, Decimal("4.0000"), Decimal("0.7500"), Decimal("2.0000"))


# ---------------------------------------------------------------- refusals write nothing
@pytest.mark.parametrize(("patch", "code", "field"), [
    ({"pricePerLicense": usd("-1.00")}, "INVALID_AMOUNT", ["pricePerLicense", "amount"]),
    ({"storagePricePerGb": usd("-0.01")}, "INVALID_AMOUNT", ["storagePricePerGb", "amount"]),
    ({"pricePerLicense": usd("1000000.01")}, "INVALID_AMOUNT", ["pricePerLicense", "amount"]),
    ({"pricePerLicense": {"amount": "5.00", "currency": "EUR"}}, "CURRENCY_MISMATCH", ["pricePerLicense", "currency"]),
    ({"pricePerLicense": usd("4.00")}, "NOTHING_TO_CHANGE", None),
    ({"pricePerLicense": usd("4.00"), "storagePricePerGb": usd("0.5")}, "NOTHING_TO_CHANGE", None),
    ({}, "NOTHING_TO_CHANGE", None),
    ({"pricePerLicense": usd("5.00"), "reason": ""}, "REASON_REQUIRED", ["reason"]),
    ({"pricePerLicense": usd("5.00"), "reason": "   "}, "REASON_REQUIRED", ["reason"]),
    ({"pricePerLicense": usd("5.00"), "reason": "x" * 501}, "REASON_TOO_LONG", ["reason"]),
    ({"pricePerLicense": usd("5.00"), "planCode": "NOPE"}, "UNKNOWN_PLAN", ["planCode"]),
    # one valid price and one invalid: neither is applied
    ({"pricePerLicense": usd("5.00"), "storagePricePerGb": usd("-1")}, "INVALID_AMOUNT", ["storagePricePerGb", "amount"]),
])
async def test_invalid_plan_price_changes_are_user_errors_and_write_nothing(runtime: Any, patch: dict[str, Any],
                                                                            code: str, field: list[str] | None) -> None:
    world = await price_world(runtime)
    variables = {"planCode": "MAIL_STANDARD", "reason": "new list", **patch}
    result = (await run_query(runtime, CHANGE_PLAN, {"input": variables},
                              token=world.tokens["platform_admin"])).ok()["changePlanPrice"]
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [(code, field)]
    assert result["plan"] is None and result["priceChanges"] == []
    assert await written(runtime) == UNCHANGED


@pytest.mark.parametrize(("patch", "code"), [
    ({"unitPrice": usd("-2")}, "INVALID_AMOUNT"),
    ({"unitPrice": usd("2.00")}, "NOTHING_TO_CHANGE"),
    ({"addOnCode": "NOPE"}, "UNKNOWN_ADD_ON"),
    ({"reason": "\n"}, "REASON_REQUIRED"),
])
async def test_invalid_add_on_price_changes_are_user_errors_and_write_nothing(runtime: Any, patch: dict[str, Any],
                                                                              code: str) -> None:
    world = await price_world(runtime)
    variables = {"addOnCode": "MAIL_EXTRA_STORAGE", "unitPrice": usd("3.00"), "reason": "new list", **patch}
    result = (await run_query(runtime, CHANGE_ADD_ON, {"input": variables},
                              token=world.tokens["platform_admin"])).ok()["changeAddOnPrice"]
    assert [e["code"] for e in result["userErrors"]] == [code]
    assert await written(runtime) == UNCHANGED


@pytest.mark.parametrize("amount", ["4.12345", "abc", "NaN"])
async def test_more_than_four_decimals_or_no_number_is_bad_user_input(runtime: Any, amount: str) -> None:
    world = await price_world(runtime)
    result = await run_query(runtime, CHANGE_PLAN, {"input": {
        "planCode": "MAIL_STANDARD", "pricePerLicense": usd(amount), "reason": "r"}}, token=world.tokens["platform_admin"])
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert await written(runtime) == UNCHANGED


async def test_the_service_refuses_what_the_columns_cannot_keep(runtime: Any) -> None:
    """Called from Python (not through the Decimal scalar), the service still refuses a fifth decimal."""
    world = await price_world(runtime)
    for amount in ("4.12345", "Infinity"):
        with pytest.raises(DomainError) as error:
            async with runtime.context(token=world.tokens["platform_admin"]) as ctx, ctx.transaction():
                decision = authorize_platform(ctx, "catalog.change_price")
                await prices.change_plan_price(ctx, decision, "MAIL_STANDARD", reason="r", storage_price_per_gb=None,
                                               price_per_license=prices.PriceInput(Decimal(amount), "USD"))
        assert error.value.code == "INVALID_AMOUNT"
    assert await written(runtime) == UNCHANGED


# ---------------------------------------------------------------- the history
async def test_history_is_newest_first_and_details_are_for_platform_staff(runtime: Any) -> None:
    world = await price_world(runtime)
    admin = world.tokens["platform_admin"]
    for amount, reason in (("5.00", "first"), ("6.00", "second"), ("5.50", "third")):
        (await run_query(runtime, CHANGE_PLAN, {"input": {"planCode": "MAIL_STANDARD", "pricePerLicense": usd(amount),
                                                          "reason": reason}}, token=admin)).ok()
    (await run_query(runtime, CHANGE_ADD_ON, {"input": {"addOnCode": "MAIL_EXTRA_STORAGE", "unitPrice": usd("2.25"),
                                                        "reason": "storage"}}, token=admin)).ok()

    def history(data: Any) -> tuple[list[Any], list[Any], list[Any]]:
        [mail] = data["products"]
        plans = {p["code"]: p["priceHistory"] for p in mail["plans"]}
        return plans["MAIL_STANDARD"], plans["MAIL_PREMIUM"], mail["addOns"][0]["priceHistory"]

    for role in ("platform_admin", "platform_analyst"):
        standard, premium, add_on = history((await run_query(runtime, HISTORY, token=world.tokens[role])).ok())
        assert [(c["previousAmount"]["amount"], c["newAmount"]["amount"], c["reason"]) for c in standard] == [
            ("6.00", "5.50", "third"), ("5.00", "6.00", "second"), ("4.00", "5.00", "first")]
        assert {c["changedBy"]["email"] for c in standard} == {"admin@platform.example"}
        assert standard[0]["effectiveAt"] >= standard[1]["effectiveAt"] >= standard[2]["effectiveAt"]
        assert premium == [] and [(c["field"], c["newAmount"]["amount"], c["reason"]) for c in add_on] == [
            ("UNIT_PRICE", "2.25", "storage")]

    for role in ("org_member", "reseller_admin", "developer", "no_role", "messaging_service"):
        result = await run_query(runtime, HISTORY, token=world.tokens[role])
        standard, _, add_on = history(result.data)
        # everyone signed in sees what changed and when; who and why are refused, field by field
        assert [c["newAmount"]["amount"] for c in standard] == ["5.50", "6.00", "5.00"]
        assert all(c["reason"] is None and c["changedBy"] is None for c in standard)
        assert add_on[0]["reason"] is None
        assert {e["extensions"]["code"] for e in result.errors} == {"FORBIDDEN"}
        assert {e["extensions"]["action"] for e in result.errors} == {"catalog.read_price_change_details"}
        assert sorted(tuple(e["path"][-2:]) for e in result.errors) == sorted(
            [(i, f) for i in range(3) for f in ("reason", "changedBy")] + [(0, "reason")])
    assert (await run_query(runtime, HISTORY)).error_codes == ["UNAUTHENTICATED"]


async def test_price_history_is_one_statement_whatever_the_number_of_plans(runtime: Any) -> None:
    world = await build_world(runtime)
    at = utcnow()

    async def statements(plans: int) -> int:
        async with runtime.sessions() as session, session.begin():
            product = models.Product(code=f"P{plans}", name=f"Product {plans}")
            session.add(product)
            await session.flush()
            for n in range(plans):
                plan = models.Plan(product_id=product.id, code=f"P{plans}_{n}", name=f"Plan {n}", currency="USD",
                                   price_per_license=Decimal(n + 2), billing_period="MONTHLY")
                session.add(plan)
                await session.flush()
                for step in range(2):
                    session.add(models.CatalogPriceChange(
                        plan_id=plan.id, field="PRICE_PER_LICENSE", previous_amount=Decimal(n + step),
                        new_amount=Decimal(n + step + 1), currency="USD", effective_at=at,
                        changed_by_user_id=world.user_ids["platform_admin"], reason=f"step {step}"))
        query = '{ products { code plans { code priceHistory { newAmount { amount } reason changedBy { email } } } } }'
        with count_statements(runtime) as counter:
            data = (await run_query(runtime, query, token=world.tokens["platform_admin"])).ok()
        [product_data] = [p for p in data["products"] if p["code"] == f"P{plans}"]
        assert len(product_data["plans"]) == plans
        assert all(len(p["priceHistory"]) == 2 and p["priceHistory"][0]["reason"] == "step 1"
                   for p in product_data["plans"])
        return counter.count

    assert await statements(2) == await statements(25)


async def test_history_rows_are_never_rewritten_or_deleted(runtime: Any) -> None:
    world = await price_world(runtime)
    (await run_query(runtime, CHANGE_PLAN, {"input": {"planCode": "MAIL_STANDARD", "pricePerLicense": usd("5"),
                                                      "reason": "r"}}, token=world.tokens["platform_admin"])).ok()
    for mutate in ("update", "delete"):
        with pytest.raises(RuntimeError, match="append-only"):
            async with runtime.sessions() as session, session.begin():
                row = await session.scalar(select(models.CatalogPriceChange))
                assert row is not None
                if mutate == "update":
                    row.new_amount = Decimal("1.00")
                else:
                    await session.delete(row)
    assert (await written(runtime))[0] == 1
