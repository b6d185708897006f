"""The credit rules, at the service level: purchase, usage, insufficient balance, idempotency, add-on usage."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select, update

from gateway.errors import DomainError
from gateway.models import IdempotencyKey
from plugins.desk_im import service
from plugins.desk_im.models import ImCreditAccount, ImCreditTransaction
from plugins.desk_im.settings import DeskImSettingsError, load_desk_im_settings
from plugins.desk_im.tests.world import (
    SETTINGS,
    balance,
    build_desk_world,
    count_rows,
    give_credits,
    in_transaction,
    key,
    set_card_token,
)
from schema import models
from schema.billing.processor import FAKE_PROCESSOR


async def purchase(runtime, world, org, credits, name, role="reseller_admin", settings=SETTINGS):
    return await in_transaction(runtime, world.tokens[role], lambda ctx: service.purchase_credits(
        ctx, world.organizations[org], credits, settings=settings, idempotency_key=key(world, name)))


async def messages(runtime, world, org, channel, count, name, settings=SETTINGS):
    return await in_transaction(runtime, world.tokens["messaging_service"], lambda ctx: service.record_messages(
        ctx, world.organizations[org], channel, count, settings=settings, idempotency_key=key(world, name)))


# ---------------------------------------------------------------- purchase
async def test_purchase_charges_the_resellers_card_and_adds_the_credits(runtime):
    world = await build_desk_world(runtime)
    charges = len(FAKE_PROCESSOR.charges)
    entry = await purchase(runtime, world, "acme", 300, "buy-1")
    assert entry.balance == 300 and not entry.replayed
    row = entry.transaction
    assert (row.kind, row.credits, row.amount, row.currency, row.card_owner) == (
        "PURCHASE", 300, Decimal("15.00"), "USD", "RESELLER_CARD")
    assert row.actor_user_id == world.user_ids["reseller_admin"]
    assert len(FAKE_PROCESSOR.charges) == charges + 1
    async with runtime.sessions() as session:
        payment = await session.get(models.Payment, row.payment_id)
    assert (payment.amount, payment.card_owner, payment.organization_id) == (
        Decimal("15.0000"), "RESELLER_CARD", world.organizations["acme"])
    assert await balance(runtime, world.organizations["acme"]) == 300


async def test_direct_customer_purchase_is_tagged_customer_card(runtime):
    world = await build_desk_world(runtime)
    entry = await purchase(runtime, world, "direct", 7, "buy-direct", role="direct_super_admin")
    assert (entry.transaction.card_owner, entry.transaction.amount) == ("CUSTOMER_CARD", Decimal("0.35"))


async def test_credit_price_is_the_configured_price_rounded_half_up(runtime):
    world = await build_desk_world(runtime)
    settings = load_desk_im_settings(credit_price="0.0125", max_purchase=1000)
    entry = await purchase(runtime, world, "acme", 3, "odd-price", settings=settings)
    assert entry.transaction.amount == Decimal("0.04")  # 0.0375 -> 0.04


@pytest.mark.parametrize("credits, code", [(0, "INVALID_CREDITS"), (-5, "INVALID_CREDITS"),
                                           (1001, "PURCHASE_ABOVE_MAXIMUM")])
async def test_purchase_refuses_bad_amounts_and_charges_nothing(runtime, credits, code):
    world = await build_desk_world(runtime)
    charges = len(FAKE_PROCESSOR.charges)
    with pytest.raises(DomainError) as refused:
        await purchase(runtime, world, "acme", credits, "bad")
    assert (refused.value.code, refused.value.field) == (code, ["credits"])
    assert len(FAKE_PROCESSOR.charges) == charges
    assert await count_rows(runtime, models.Payment) == 0
    assert await balance(runtime, world.organizations["acme"]) == 0


@pytest.mark.parametrize("card, code", [(None, "NO_PAYMENT_METHOD"), ("tok_decline", "PAYMENT_DECLINED")])
async def test_purchase_without_a_working_card_credits_nothing(runtime, card, code):
    world = await build_desk_world(runtime)
    await set_card_token(runtime, world.organizations["acme"], card)
    with pytest.raises(DomainError) as refused:
        await purchase(runtime, world, "acme", 100, "no-card")
    assert refused.value.code == code
    assert await count_rows(runtime, models.Payment) == 0
    assert await count_rows(runtime, ImCreditTransaction) == 0
    assert await count_rows(runtime, IdempotencyKey) == 0  # the key can be used again once the card works


async def test_purchase_needs_a_desk_subscription(runtime):
    world = await build_desk_world(runtime)
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.Subscription).where(
            models.Subscription.id == world.subscriptions["acme_desk"]).values(status="CANCELLED"))
    with pytest.raises(DomainError) as refused:
        await purchase(runtime, world, "acme", 10, "no-desk")
    assert refused.value.code == "NO_DESK_SUBSCRIPTION"
    assert await count_rows(runtime, models.Payment) == 0


async def test_purchase_with_the_same_key_charges_once(runtime):
    world = await build_desk_world(runtime)
    charges = len(FAKE_PROCESSOR.charges)
    first = await purchase(runtime, world, "acme", 50, "same")
    again = await purchase(runtime, world, "acme", 50, "same")
    assert again.replayed and again.transaction.id == first.transaction.id and again.balance == 50
    assert len(FAKE_PROCESSOR.charges) == charges + 1
    assert await count_rows(runtime, models.Payment) == 1
    with pytest.raises(DomainError) as refused:
        await purchase(runtime, world, "acme", 60, "same")
    assert refused.value.code == "IDEMPOTENCY_KEY_REUSED"
    # the same key on another organization is another purchase
    await purchase(runtime, world, "direct", 50, "same", role="direct_super_admin")
    assert await count_rows(runtime, models.Payment) == 2


# ---------------------------------------------------------------- usage
async def test_charged_channel_consumes_one_credit_per_message(runtime):
    world = await build_desk_world(runtime)
    await give_credits(runtime, world.organizations["acme"], 10)
    entry = await messages(runtime, world, "acme", "WHATSAPP", 4, "m-1")
    row = entry.transaction
    assert (row.kind, row.credits, row.channel, row.message_count, row.amount) == ("USAGE", -4, "WHATSAPP", 4, None)
    assert entry.balance == 6 == await balance(runtime, world.organizations["acme"])
    assert row.actor_user_id == world.user_ids["messaging_service"]


async def test_free_channel_records_a_zero_credit_usage_row(runtime):
    world = await build_desk_world(runtime)
    entry = await messages(runtime, world, "acme", "TELEGRAM", 25, "t-1")
    assert (entry.transaction.credits, entry.transaction.message_count, entry.balance) == (0, 25, 0)
    assert await count_rows(runtime, ImCreditTransaction, kind="USAGE") == 1


async def test_charged_channels_are_configurable(runtime):
    world = await build_desk_world(runtime)
    await give_credits(runtime, world.organizations["acme"], 10)
    settings = load_desk_im_settings(charged_channels="TELEGRAM")
    telegram = await messages(runtime, world, "acme", "TELEGRAM", 3, "t", settings=settings)
    whatsapp = await messages(runtime, world, "acme", "WHATSAPP", 3, "w", settings=settings)
    assert (telegram.transaction.credits, whatsapp.transaction.credits, whatsapp.balance) == (-3, 0, 7)


async def test_not_enough_credits_consumes_nothing(runtime):
    world = await build_desk_world(runtime)
    await give_credits(runtime, world.organizations["acme"], 3)
    with pytest.raises(DomainError) as refused:
        await messages(runtime, world, "acme", "WHATSAPP", 4, "too-many")
    assert refused.value.code == "INSUFFICIENT_CREDITS"
    assert "4 needed, 3 left" in refused.value.message
    assert await balance(runtime, world.organizations["acme"]) == 3
    assert await count_rows(runtime, ImCreditTransaction, kind="USAGE") == 0
    # the refused key was not used up: after a purchase the same report goes through once
    await give_credits(runtime, world.organizations["acme"], 1)
    entry = await messages(runtime, world, "acme", "WHATSAPP", 4, "too-many")
    assert entry.balance == 0 and not entry.replayed


async def test_no_account_yet_is_insufficient_on_a_charged_channel(runtime):
    world = await build_desk_world(runtime)
    with pytest.raises(DomainError) as refused:
        await messages(runtime, world, "direct", "WHATSAPP", 1, "first")
    assert refused.value.code == "INSUFFICIENT_CREDITS"


async def test_the_same_message_key_never_consumes_twice(runtime):
    world = await build_desk_world(runtime)
    await give_credits(runtime, world.organizations["acme"], 10)
    first = await messages(runtime, world, "acme", "WHATSAPP", 2, "batch-7")
    again = await messages(runtime, world, "acme", "WHATSAPP", 2, "batch-7")
    assert again.replayed and again.transaction.id == first.transaction.id
    assert await balance(runtime, world.organizations["acme"]) == 8
    with pytest.raises(DomainError) as refused:
        await messages(runtime, world, "acme", "WHATSAPP", 3, "batch-7")
    assert refused.value.code == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize("channel, count, code", [("SMS", 1, "UNKNOWN_CHANNEL"), ("WHATSAPP", 0, "INVALID_COUNT"),
                                                  ("WHATSAPP", -2, "INVALID_COUNT")])
async def test_usage_input_is_validated(runtime, channel, count, code):
    world = await build_desk_world(runtime)
    await give_credits(runtime, world.organizations["acme"], 10)
    with pytest.raises(DomainError) as refused:
        await messages(runtime, world, "acme", channel, count, "bad")
    assert refused.value.code == code
    assert await balance(runtime, world.organizations["acme"]) == 10


# ---------------------------------------------------------------- post-paid add-on usage
async def add_on_usage(runtime, world, sub, code, quantity, name=None):
    async def work(ctx):
        subscription = await ctx.session.get(models.Subscription, world.subscriptions[sub])
        return await service.record_add_on_usage(ctx, subscription, code, quantity,
                                                   idempotency_key=key(world, name) if name else None)

    return await in_transaction(runtime, world.tokens["messaging_service"], work)


async def test_postpaid_add_on_usage_charges_the_card_with_its_own_payment(runtime):
    world = await build_desk_world(runtime)
    first = await add_on_usage(runtime, world, "acme_desk", "DESK_SMS", 130)
    second = await add_on_usage(runtime, world, "acme_desk", "desk_voice_minutes", 45)
    assert (first.payment.amount, first.payment.currency, first.payment.card_owner) == (
        Decimal("6.50"), "USD", "RESELLER_CARD")
    assert second.payment.amount == Decimal("0.90") and second.payment.id != first.payment.id
    assert "130 × message" in first.payment.description
    assert await count_rows(runtime, models.Payment) == 2
    assert await count_rows(runtime, ImCreditTransaction) == 0  # add-on usage is not IM credits


async def test_add_on_usage_with_a_key_charges_once(runtime):
    world = await build_desk_world(runtime)
    first = await add_on_usage(runtime, world, "direct_desk", "DESK_SMS", 10, name="u-1")
    again = await add_on_usage(runtime, world, "direct_desk", "DESK_SMS", 10, name="u-1")
    assert again.replayed and again.payment.id == first.payment.id
    assert first.payment.card_owner == "CUSTOMER_CARD"
    assert await count_rows(runtime, models.Payment) == 1


@pytest.mark.parametrize("sub, code, quantity, error", [
    ("acme_mail", "MAIL_EXTRA_STORAGE", 1, "ADD_ON_NOT_POSTPAID"),
    ("acme_desk", "MAIL_EXTRA_STORAGE", 1, "UNKNOWN_ADD_ON"),
    ("acme_mail", "DESK_SMS", 1, "UNKNOWN_ADD_ON"),
    ("acme_desk", "NOPE", 1, "UNKNOWN_ADD_ON"),
    ("acme_desk", "DESK_SMS", 0, "INVALID_QUANTITY"),
])
async def test_add_on_usage_refusals_charge_nothing(runtime, sub, code, quantity, error):
    world = await build_desk_world(runtime)
    with pytest.raises(DomainError) as refused:
        await add_on_usage(runtime, world, sub, code, quantity)
    assert refused.value.code == error
    assert await count_rows(runtime, models.Payment) == 0


async def test_unknown_add_on_names_the_postpaid_add_ons(runtime):
    world = await build_desk_world(runtime)
    with pytest.raises(DomainError) as refused:
        await add_on_usage(runtime, world, "acme_desk", "SMS", 1)
    assert "DESK_SMS, DESK_VOICE_MINUTES" in refused.value.message


async def test_add_on_usage_on_a_cancelled_subscription_is_refused(runtime):
    world = await build_desk_world(runtime)
    async with runtime.sessions() as session, session.begin():
        (await session.get(models.Subscription, world.subscriptions["acme_desk"])).status = "EXPIRED"
    with pytest.raises(DomainError) as refused:
        await add_on_usage(runtime, world, "acme_desk", "DESK_SMS", 5)
    assert refused.value.code == "SUBSCRIPTION_NOT_ACTIVE"


# ---------------------------------------------------------------- the invariant and the settings
async def test_invariant_check_catches_a_balance_that_disagrees_with_the_ledger(runtime):
    world = await build_desk_world(runtime)
    org = world.organizations["acme"]
    await give_credits(runtime, org, 5)
    async with runtime.sessions() as session:
        await service.assert_ledger_consistent(session, org)
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(ImCreditAccount).where(ImCreditAccount.organization_id == org).values(balance=6))
    async with runtime.sessions() as session:
        with pytest.raises(AssertionError, match="balance 6 but ledger sums to 5"):
            await service.assert_ledger_consistent(session, org)
    async with runtime.sessions() as session, session.begin():  # restore for the after-test check
        await session.execute(update(ImCreditAccount).where(ImCreditAccount.organization_id == org).values(balance=5))
        assert (await session.scalar(select(ImCreditAccount.balance).where(
            ImCreditAccount.organization_id == org))) == 5


async def test_negative_adjustment_cannot_overdraw(runtime):
    world = await build_desk_world(runtime)
    org = world.organizations["acme"]
    await give_credits(runtime, org, 5)
    with pytest.raises(DomainError) as refused:
        await give_credits(runtime, org, -6)
    assert refused.value.code == "INSUFFICIENT_CREDITS"
    await give_credits(runtime, org, -5)
    assert await balance(runtime, org) == 0


def test_settings_defaults_and_validation(monkeypatch):
    for name in ("CREDIT_PRICE", "MAX_PURCHASE", "CHARGED_CHANNELS", "CURRENCY"):
        monkeypatch.delenv(f"GATEWAY_DESK_IM_{name}", raising=False)
    defaults = load_desk_im_settings()
    assert (defaults.credit_price, defaults.max_purchase, defaults.charged_channels, defaults.currency) == (
        Decimal("0.05"), 100_000, frozenset({"WHATSAPP"}), "USD")
    monkeypatch.setenv("GATEWAY_DESK_IM_CHARGED_CHANNELS", "whatsapp, line")
    monkeypatch.setenv("GATEWAY_DESK_IM_CREDIT_PRICE", "0.02")
    configured = load_desk_im_settings()
    assert configured.charged_channels == frozenset({"WHATSAPP", "LINE"})
    assert configured.credit_price == Decimal("0.02")
    for name, value in [("CREDIT_PRICE", "0"), ("CREDIT_PRICE", "abc"), ("MAX_PURCHASE", "0"),
                        ("CHARGED_CHANNELS", "SMS"), ("CURRENCY", "XXX")]:
        monkeypatch.setenv(f"GATEWAY_DESK_IM_{name}", value)
        with pytest.raises(DeskImSettingsError, match=f"GATEWAY_DESK_IM_{name}"):
            load_desk_im_settings()
        monkeypatch.delenv(f"GATEWAY_DESK_IM_{name}")


async def test_a_purchase_that_rounds_to_nothing_is_refused(runtime):
    world = await build_desk_world(runtime)
    settings = load_desk_im_settings(credit_price="0.003", max_purchase=1000)
    with pytest.raises(DomainError) as refused:
        await purchase(runtime, world, "acme", 1, "tiny", settings=settings)
    assert refused.value.code == "PURCHASE_TOO_SMALL" and "at least 2 credits" in refused.value.message
    entry = await purchase(runtime, world, "acme", 2, "tiny-ok", settings=settings)
    assert entry.transaction.amount == Decimal("0.01")
