"""Service-level tests of billing: pro-ration, charging through the processor, invoice lines, card numbers."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from gateway.errors import DomainError
from gateway.sensitive import contains_card_number
from schema.billing.processor import DECLINED_TOKEN, FAKE_PROCESSOR
from schema.billing.proration import prorate
from schema.billing.service import (
    add_invoice_line,
    card_expired,
    charge_organization,
    refuse_card_numbers,
)
from schema.models import InvoiceLine, Payment, PaymentMethod
from schema.testing import build_world

UTC = dt.UTC


def d(y: int, m: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(y, m, day, hour, tzinfo=UTC)


# ---------------------------------------------------------------- prorate
@pytest.mark.parametrize("at, expected", [
    (d(2026, 4, 1), Decimal("30.00")),        # first day: the whole period
    (d(2026, 4, 16), Decimal("15.00")),       # 15 of 30 days left
    (d(2026, 4, 16, 23), Decimal("15.00")),   # time of day is ignored
    (d(2026, 4, 30), Decimal("1.00")),        # last full day
    (d(2026, 5, 1), Decimal("0.00")),         # at the period end
    (d(2026, 6, 1), Decimal("0.00")),         # after the end: nothing
    (d(2026, 3, 1), Decimal("30.00")),        # before the start: the whole period, not more
])
def test_prorate_on_exact_dates(at, expected):
    assert prorate(Decimal("30"), d(2026, 4, 1), d(2026, 5, 1), at) == expected


def test_prorate_rounds_half_up_to_the_cent_and_credits_are_negative():
    # 10.00 * 1 / 3 = 3.333.. -> 3.33 ; 0.05 * 10 / 20 = 0.025 -> 0.03 (half up) ; credits mirror it
    assert prorate(Decimal("10.00"), d(2026, 1, 1), d(2026, 1, 4), d(2026, 1, 3)) == Decimal("3.33")
    assert prorate(Decimal("0.05"), d(2026, 1, 1), d(2026, 1, 21), d(2026, 1, 11)) == Decimal("0.03")
    assert prorate(Decimal("-0.05"), d(2026, 1, 1), d(2026, 1, 21), d(2026, 1, 11)) == Decimal("-0.03")
    assert prorate(Decimal("12"), d(2026, 1, 1), d(2026, 1, 1), d(2026, 1, 1)) == Decimal("0.00")
    # February 2026 has 28 days: 4 days left of 28 of 28.00 = 4.00
    assert prorate(Decimal("28.00"), d(2026, 2, 1), d(2026, 3, 1), d(2026, 2, 25)) == Decimal("4.00")


# ---------------------------------------------------------------- card numbers
@pytest.mark.parametrize("text, expected", [
    ("4111111111111111", True), ("4111 1111 1111 1111", True), ("4111-1111-1111-1111", True),
    ("card 378282246310005 here", True), ("4111111111111112", False), ("1234", False), ("tok_visa_4242", False),
    ("411111111111", False),  # 12 digits: too short to be a card number
    ("41111111111111111111", False),  # 20 digits: too long
])
def test_looks_like_card_number(text, expected):
    assert contains_card_number(text) is expected


def test_refuse_card_numbers_names_the_field():
    with pytest.raises(DomainError) as error:
        refuse_card_numbers({"brand": "VISA", "holderName": "4242 4242 4242 4242"})
    assert error.value.code == "CARD_NUMBER_NOT_ACCEPTED" and error.value.field == ["holderName"]
    assert "4242" not in error.value.message
    refuse_card_numbers({"brand": "VISA", "cardToken": "tok_123"})  # nothing raised


def test_card_expiry_is_the_end_of_the_month():
    assert not card_expired(5, 2026, dt.date(2026, 5, 31))
    assert card_expired(4, 2026, dt.date(2026, 5, 1))
    assert card_expired(12, 2025, dt.date(2026, 1, 1))


# ---------------------------------------------------------------- charging
async def _with_card(runtime, org_id: int, token: str = "tok_ok", owner: str = "RESELLER_CARD") -> None:
    async with runtime.sessions() as session, session.begin():
        session.add(PaymentMethod(organization_id=org_id, owner=owner, processor_token=token, brand="VISA",
                                  last4="4242", exp_month=12, exp_year=2099, holder_name="Pat"))


async def _charge(runtime, world, org_key: str, amount: str = "12.50", key: str | None = None) -> Payment:
    async with runtime.context(token=world.tokens["reseller_admin"]) as ctx:
        async with ctx.transaction():
            return await charge_organization(ctx, world.organizations[org_key], Decimal(amount), "USD",
                                             "Test charge", idempotency_key=key)


async def test_charge_records_payment_tagged_with_the_card_owner(runtime):
    world = await build_world(runtime)
    await _with_card(runtime, world.organizations["acme"], owner="CUSTOMER_CARD")
    before = len(FAKE_PROCESSOR.charges)
    payment = await _charge(runtime, world, "acme")
    assert payment.amount == Decimal("12.50") and payment.currency == "USD"
    assert payment.card_owner == "CUSTOMER_CARD" and payment.processor_reference.startswith("fake_ch_")
    assert len(FAKE_PROCESSOR.charges) == before + 1


async def test_charge_without_card_is_refused(runtime):
    world = await build_world(runtime)
    with pytest.raises(DomainError) as error:
        await _charge(runtime, world, "acme")
    assert error.value.code == "NO_PAYMENT_METHOD"


async def test_declined_card_records_nothing(runtime):
    world = await build_world(runtime)
    await _with_card(runtime, world.organizations["acme"], token=DECLINED_TOKEN)
    with pytest.raises(DomainError) as error:
        await _charge(runtime, world, "acme")
    assert error.value.code == "PAYMENT_DECLINED"
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Payment)) == 0


@pytest.mark.parametrize("amount", ["0", "-1.00"])
async def test_charge_must_be_positive(runtime, amount):
    world = await build_world(runtime)
    await _with_card(runtime, world.organizations["acme"])
    with pytest.raises(DomainError) as error:
        await _charge(runtime, world, "acme", amount=amount)
    assert error.value.code == "INVALID_AMOUNT"


async def test_same_idempotency_key_charges_once(runtime):
    world = await build_world(runtime)
    await _with_card(runtime, world.organizations["acme"])
    before = len(FAKE_PROCESSOR.charges)
    key = f"k-{uuid.uuid4()}"  # the fake processor remembers keys for the whole test session
    first = await _charge(runtime, world, "acme", key=key)
    second = await _charge(runtime, world, "acme", key=key)
    assert first.id == second.id
    assert len(FAKE_PROCESSOR.charges) == before + 1
    with pytest.raises(DomainError) as error:
        await _charge(runtime, world, "acme", amount="99.00", key=key)
    assert error.value.code == "IDEMPOTENCY_KEY_REUSED"
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Payment)) == 1


async def test_add_invoice_line_rounds_and_keeps_credits_negative(runtime):
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        line = await add_invoice_line(session, organization_id=world.organizations["acme"],
                                      subscription_id=world.subscriptions["acme_mail"], description="credit",
                                      amount=Decimal("-3.335"), currency="usd", prorated=True, source="core")
    async with runtime.sessions() as session:
        row = await session.get(InvoiceLine, line.id)
        assert row.amount == Decimal("-3.34") and row.currency == "USD" and row.prorated and row.invoiced_at is None



# ---------------------------------------------------------------- the card on file
async def _update(runtime, world, org_key: str = "acme", role: str = "reseller_admin", **patch):
    from schema.access import authorize_organization
    from schema.billing.service import update_payment_method

    arguments = {"owner": "RESELLER_CARD", "card_token": "tok_first_card", "brand": "visa", "last4": "4242", "exp_month": 5,
                 "exp_year": 2030, "holder_name": " Pat ", "today": dt.date(2026, 5, 20), **patch}
    async with runtime.context(token=world.tokens[role]) as ctx:
        async with ctx.transaction():
            decision = await authorize_organization(ctx, "payment_method.update", world.organizations[org_key])
            return await update_payment_method(ctx, decision, world.organizations[org_key], **arguments)


async def test_update_payment_method_stores_only_token_details_and_replaces(runtime):
    world = await build_world(runtime)
    first = await _update(runtime, world)
    second = await _update(runtime, world, owner="CUSTOMER_CARD", last4="0005", card_token="tok_second_card")
    assert first.id == second.id
    async with runtime.sessions() as session:
        [row] = (await session.scalars(select(PaymentMethod))).all()
    assert (row.owner, row.brand, row.last4, row.processor_token, row.holder_name) == (
        "CUSTOMER_CARD", "VISA", "0005", "tok_second_card", "Pat")


@pytest.mark.parametrize("patch, code", [
    ({"card_token": "5555555555554444"}, "CARD_NUMBER_NOT_ACCEPTED"),
    ({"holder_name": "Pat 3782-822463-10005"}, "CARD_NUMBER_NOT_ACCEPTED"),
    ({"last4": "424"}, "INVALID_LAST4"),
    ({"exp_month": 0}, "INVALID_EXPIRY"),
    ({"exp_month": 4, "exp_year": 2026}, "CARD_EXPIRED"),  # April 2026 ended before 2026-05-20
    ({"exp_year": 2099}, "INVALID_EXPIRY"),
    ({"owner": "SOMEONE"}, "INVALID_CARD_OWNER"),
    ({"brand": " "}, "INVALID_BRAND"),
    ({"brand": "MAESTRO"}, "INVALID_BRAND"),  # not a CardBrand: OTHER is the catch-all
    ({"card_token": "tok_4111\u00a01111\u00a01111\u00a01111"}, "CARD_NUMBER_NOT_ACCEPTED"),
    ({"card_token": "tok_1234567890"}, "INVALID_CARD_TOKEN"),  # never only digits
    ({"card_token": "card_abcdefgh"}, "INVALID_CARD_TOKEN"),
    ({"holder_name": "Pat cvv 123"}, "CARD_NUMBER_NOT_ACCEPTED"),
    ({"holder_name": "Pat ١٢٣٤"}, "CVV_NOT_ACCEPTED"),  # Arabic-Indic digits are digits too
    ({"holder_name": "Pat 7"}, "INVALID_HOLDER_NAME"),
])
async def test_update_payment_method_refusals(runtime, patch, code):
    world = await build_world(runtime)
    with pytest.raises(DomainError) as error:
        await _update(runtime, world, **patch)
    assert error.value.code == code
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(PaymentMethod)) == 0


async def test_card_valid_through_its_expiry_month(runtime):
    world = await build_world(runtime)
    row = await _update(runtime, world, exp_month=5, exp_year=2026)  # today is 2026-05-20
    assert (row.exp_month, row.exp_year) == (5, 2026)


async def test_remove_payment_method_service(runtime):
    from schema.access import authorize_organization
    from schema.billing.service import remove_payment_method

    world = await build_world(runtime)
    await _with_card(runtime, world.organizations["direct"])
    async with runtime.context(token=world.tokens["direct_super_admin"]) as ctx:
        async with ctx.transaction():
            decision = await authorize_organization(ctx, "payment_method.remove", world.organizations["direct"])
            removed = await remove_payment_method(ctx, decision, world.organizations["direct"])
        assert removed.last4 == "4242"
        with pytest.raises(DomainError) as error:
            async with ctx.transaction():
                await remove_payment_method(ctx, decision, world.organizations["direct"])
    assert error.value.code == "NO_PAYMENT_METHOD"
