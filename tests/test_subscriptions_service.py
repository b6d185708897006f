"""Service-level tests of the subscription rules: authority, transitions, pro-ration, history, hooks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.errors import DomainError
from schema import models
from schema.access import authorize_organization
from schema.catalog.pricing import add_period
from schema.catalog.service import sync_catalog
from schema.models import AuditEvent
from schema.subscriptions import service
from schema.testing import World, build_world, declared_catalogs

UTC = dt.UTC
START = dt.datetime(2026, 4, 1, tzinfo=UTC)
END = dt.datetime(2026, 5, 1, tzinfo=UTC)  # a 30-day period


async def setup_world(runtime: Any, *, card_for: tuple[str, ...] = ("acme", "direct")) -> World:
    """The standard world, the full catalog, cards, and both Mail subscriptions on a fixed April period."""
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        await sync_catalog(session, declared_catalogs())  # every installed plugin's products
        for key in card_for:
            session.add(models.PaymentMethod(organization_id=world.organizations[key], owner="CUSTOMER_CARD",
                                             processor_token="tok_ok", brand="VISA", last4="4242", exp_month=12,
                                             exp_year=2099))
        await session.execute(update(models.Subscription).values(current_period_start=START, current_period_end=END))
    return world


async def act(runtime: Any, world: World, role: str, action: str, org: str, fn: Any) -> Any:
    """Authorize ``action`` on ``org`` as ``role`` and run ``fn(ctx, decision)`` in one committed transaction."""
    async with runtime.context(token=world.tokens[role]) as ctx:
        async with ctx.transaction():
            decision = await authorize_organization(ctx, action, world.organizations[org])
            return await fn(ctx, decision)


async def refused(runtime: Any, world: World, role: str, action: str, org: str, fn: Any) -> DomainError:
    with pytest.raises(DomainError) as error:
        await act(runtime, world, role, action, org, fn)
    return error.value


async def rows(runtime: Any, model: Any, *where: Any) -> list[Any]:
    async with runtime.sessions() as session:
        return list((await session.scalars(select(model).where(*where).order_by(model.id))).all())


# ---------------------------------------------------------------- authority
async def test_mapped_organizations_super_admin_is_told_to_contact_the_partner(runtime):
    world = await setup_world(runtime)
    sub = world.subscriptions["acme_mail"]
    error = await refused(runtime, world, "org_super_admin", "subscription.change", "acme",
                          lambda ctx, d: service.change_subscription(ctx, d, sub, license_count=12))
    assert error.code == "PARTNER_MANAGED_SUBSCRIPTION"
    assert "contact your partner Resell One" in error.message
    assert (await rows(runtime, models.Subscription, models.Subscription.id == sub))[0].license_count == 10


async def test_partner_admin_and_direct_super_admin_manage_subscriptions(runtime):
    world = await setup_world(runtime)
    changed = await act(runtime, world, "reseller_admin", "subscription.change", "acme",
                        lambda ctx, d: service.change_subscription(ctx, d, world.subscriptions["acme_mail"],
                                                                   license_count=12, now=START))
    assert changed.license_count == 12
    direct = await act(runtime, world, "direct_super_admin", "subscription.change", "direct",
                       lambda ctx, d: service.change_subscription(ctx, d, world.subscriptions["direct_mail"],
                                                                  license_count=3, now=START))
    assert direct.license_count == 3


async def test_a_delegated_partner_that_is_not_the_mapped_partner_cannot_change_subscriptions(runtime):
    world = await setup_world(runtime)
    async with runtime.sessions() as session, session.begin():  # acme now also grants OTHER1 delegated access
        session.add(models.PartnerAccess(organization_id=world.organizations["acme"],
                                         partner_id=world.partners["other"], status="ACTIVE"))
    error = await refused(runtime, world, "other_partner_admin", "subscription.suspend", "acme",
                          lambda ctx, d: service.suspend_subscription(ctx, d, world.subscriptions["acme_mail"]))
    assert error.code == "PARTNER_MANAGED_SUBSCRIPTION" and "Resell One" in error.message


async def test_tagging_away_from_a_partner_moves_the_authority(runtime):
    world = await setup_world(runtime)
    async with runtime.sessions() as session, session.begin():  # acme becomes a direct customer
        await session.execute(update(models.Organization).where(models.Organization.id == world.organizations["acme"])
                              .values(partner_id=None))
    suspended = await act(runtime, world, "org_super_admin", "subscription.suspend", "acme",
                          lambda ctx, d: service.suspend_subscription(ctx, d, world.subscriptions["acme_mail"]))
    assert suspended.status == "SUSPENDED"


# ---------------------------------------------------------------- add and purchase
async def test_trial_uses_the_plans_trial_days_and_charges_nothing(runtime):
    world = await setup_world(runtime, card_for=())
    sub = await act(runtime, world, "reseller_admin", "subscription.add", "acme",
                    lambda ctx, d: service.add_subscription(ctx, d, world.organizations["acme"],
                                                            plan_code="DESK_STANDARD", license_count=3, trial=True,
                                                            now=START))
    assert sub.status == "TRIAL" and sub.trial_ends_at == START + dt.timedelta(days=14)
    assert sub.current_period_end == sub.trial_ends_at and sub.storage_gb == 5
    assert await rows(runtime, models.Payment) == []
    change = (await rows(runtime, models.SubscriptionChange, models.SubscriptionChange.subscription_id == sub.id))[0]
    assert change.kind == "ADDED" and change.actor_user_id == world.user_ids["reseller_admin"]
    assert change.via == "PARTNER_ADMIN" and change.to_plan_id is not None


async def test_paid_subscription_charges_its_first_period_with_add_ons_and_storage(runtime):
    world = await setup_world(runtime)
    sub = await act(runtime, world, "direct_super_admin", "subscription.add", "direct",
                    lambda ctx, d: service.add_subscription(
                        ctx, d, world.organizations["direct"], plan_code="MAIL_STANDARD_YEARLY", license_count=3,
                        storage_gb=14, add_ons=[service.AddOnRequest("MAIL_EXTRA_STORAGE", 2)], now=START))
    assert sub.status == "ACTIVE" and sub.current_period_end == dt.datetime(2027, 4, 1, tzinfo=UTC)
    [payment] = await rows(runtime, models.Payment)
    # 3 × 40.00 + (14 - 10) GB × 5.00 + 2 × 2.00 = 144.00
    assert payment.amount == Decimal("144.00") and payment.card_owner == "CUSTOMER_CARD"


@pytest.mark.parametrize("kwargs, code", [
    ({"plan_code": "NOPE", "license_count": 1}, "UNKNOWN_PLAN"),
    ({"plan_code": "MAIL_STANDARD", "license_count": 0}, "INVALID_LICENSE_COUNT"),
    ({"plan_code": "MAIL_STANDARD", "license_count": -3}, "INVALID_LICENSE_COUNT"),
    ({"plan_code": "MAIL_STANDARD", "license_count": 1, "storage_gb": 1}, "INVALID_STORAGE"),
    ({"plan_code": "CERT_STANDARD", "license_count": 1, "trial": True}, "TRIAL_NOT_AVAILABLE"),
    ({"plan_code": "MAIL_STANDARD", "license_count": 1, "add_ons": [service.AddOnRequest("DESK_SMS", 1)]},
     "ADD_ON_OF_ANOTHER_PRODUCT"),
    ({"plan_code": "MAIL_STANDARD", "license_count": 1, "add_ons": [service.AddOnRequest("NOPE", 1)]}, "UNKNOWN_ADD_ON"),
    ({"plan_code": "MAIL_STANDARD", "license_count": 1, "add_ons": [service.AddOnRequest("MAIL_EXTRA_STORAGE", 0)]},
     "INVALID_ADD_ON_QUANTITY"),
])
async def test_add_subscription_refusals(runtime, kwargs, code):
    world = await setup_world(runtime)
    error = await refused(runtime, world, "direct_super_admin", "subscription.add", "direct",
                          lambda ctx, d: service.add_subscription(ctx, d, world.organizations["direct"], **kwargs))
    assert error.code == code
    assert len(await rows(runtime, models.Subscription)) == 2  # nothing added


async def test_paid_subscription_without_card_is_refused_and_nothing_is_added(runtime):
    world = await setup_world(runtime, card_for=())
    error = await refused(runtime, world, "direct_super_admin", "subscription.add", "direct",
                          lambda ctx, d: service.add_subscription(ctx, d, world.organizations["direct"],
                                                                  plan_code="MAIL_PREMIUM", license_count=1))
    assert error.code == "NO_PAYMENT_METHOD"
    assert len(await rows(runtime, models.Subscription)) == 2


async def test_purchase_turns_a_trial_into_a_paid_subscription_and_not_twice(runtime):
    world = await setup_world(runtime)
    trial = await act(runtime, world, "direct_super_admin", "subscription.add", "direct",
                      lambda ctx, d: service.add_subscription(ctx, d, world.organizations["direct"],
                                                              plan_code="MAIL_PREMIUM", license_count=2, trial=True))
    now = dt.datetime(2026, 1, 31, tzinfo=UTC)
    paid = await act(runtime, world, "direct_super_admin", "subscription.purchase", "direct",
                     lambda ctx, d: service.purchase_subscription(ctx, d, trial.id, now=now))
    assert paid.status == "ACTIVE" and paid.current_period_start == now
    assert paid.current_period_end == dt.datetime(2026, 2, 28, tzinfo=UTC)  # clamped to February's end
    [payment] = await rows(runtime, models.Payment)
    assert payment.amount == Decimal("16.00")
    error = await refused(runtime, world, "direct_super_admin", "subscription.purchase", "direct",
                          lambda ctx, d: service.purchase_subscription(ctx, d, trial.id))
    assert error.code == "ALREADY_PURCHASED"
    assert len(await rows(runtime, models.Payment)) == 1


# ---------------------------------------------------------------- change and pro-ration
async def test_more_licenses_mid_period_add_a_prorated_line(runtime):
    world = await setup_world(runtime)
    sub = world.subscriptions["direct_mail"]
    await act(runtime, world, "direct_super_admin", "subscription.change", "direct",
              lambda ctx, d: service.change_subscription(ctx, d, sub, license_count=16,
                                                         now=dt.datetime(2026, 4, 21, 15, tzinfo=UTC)))
    [line] = await rows(runtime, models.InvoiceLine)
    # 6 more licenses × 4.00 = 24.00 per period; 10 of 30 days left -> 8.00
    assert line.amount == Decimal("8.00") and line.prorated and line.subscription_id == sub
    assert "10 days left" in line.description
    [change] = [c for c in await rows(runtime, models.SubscriptionChange) if c.subscription_id == sub]
    assert (change.kind, change.from_licenses, change.to_licenses) == ("CHANGED", 10, 16)
    assert change.details["invoiceLines"][0]["amount"] == "8.00"


async def test_plan_down_and_fewer_licenses_add_prorated_credits(runtime):
    world = await setup_world(runtime)
    sub = world.subscriptions["direct_mail"]
    async with runtime.sessions() as session, session.begin():  # start on Premium with 10 licenses
        await session.execute(update(models.Subscription).where(models.Subscription.id == sub)
                              .values(plan_id=world.plans["MAIL_PREMIUM"], period_price_per_license=Decimal("8.00")))
    await act(runtime, world, "direct_super_admin", "subscription.change", "direct",
              lambda ctx, d: service.change_subscription(ctx, d, sub, plan_code="MAIL_STANDARD", license_count=5,
                                                         now=dt.datetime(2026, 4, 16, tzinfo=UTC)))
    [line] = await rows(runtime, models.InvoiceLine)
    # 10 × 8.00 = 80.00 -> 5 × 4.00 = 20.00: -60.00 × 15/30 = -30.00
    assert line.amount == Decimal("-30.00") and line.prorated
    assert line.description.startswith("Pro-rated credit: Mail Standard: 5 licenses (was Mail Premium: 10 licenses)")
    [change] = [c for c in await rows(runtime, models.SubscriptionChange) if c.subscription_id == sub]
    assert change.from_plan_id == world.plans["MAIL_PREMIUM"] and change.to_plan_id == world.plans["MAIL_STANDARD"]


async def test_storage_and_add_ons_each_get_their_own_line(runtime):
    world = await setup_world(runtime)
    sub = world.subscriptions["direct_mail"]
    now = dt.datetime(2026, 4, 25, tzinfo=UTC)  # 6 of 30 days left
    await act(runtime, world, "direct_super_admin", "subscription.change", "direct",
              lambda ctx, d: service.change_subscription(
                  ctx, d, sub, storage_gb=25, add_ons=[service.AddOnRequest("MAIL_EXTRA_STORAGE", 5)], now=now))
    lines = {line.description.split(":")[1].strip(): line.amount for line in await rows(runtime, models.InvoiceLine)}
    # storage: (25 - 5) GB × 0.50 = 10.00 -> 2.00 ; add-on 5 × 2.00 = 10.00 -> 2.00
    assert lines == {"Mail Standard": Decimal("2.00"), "Mail extra storage": Decimal("2.00")}
    await act(runtime, world, "direct_super_admin", "subscription.change", "direct",
              lambda ctx, d: service.change_subscription(
                  ctx, d, sub, add_ons=[service.AddOnRequest("MAIL_EXTRA_STORAGE", 0)], now=now))
    removed = (await rows(runtime, models.InvoiceLine))[-1]
    assert removed.amount == Decimal("-2.00") and "removed" in removed.description
    assert await rows(runtime, models.SubscriptionAddOn) == []


async def test_switching_to_a_yearly_plan_credits_the_month_and_starts_a_year(runtime):
    world = await setup_world(runtime)
    sub = world.subscriptions["direct_mail"]
    now = dt.datetime(2026, 4, 11, tzinfo=UTC)  # 20 of 30 days left
    changed = await act(runtime, world, "direct_super_admin", "subscription.change", "direct",
                        lambda ctx, d: service.change_subscription(ctx, d, sub, plan_code="MAIL_STANDARD_YEARLY", now=now))
    assert changed.current_period_start == now and changed.current_period_end == add_period(now, "YEARLY")
    credit, charge = await rows(runtime, models.InvoiceLine)
    # Standard storage 5 GB -> the yearly plan includes 10 GB, so storage rises to 10 (no storage charge)
    assert credit.amount == Decimal("-26.67") and credit.prorated  # -40.00 × 20/30
    assert charge.amount == Decimal("400.00") and not charge.prorated
    assert changed.storage_gb == 10


async def test_trial_changes_are_free(runtime):
    world = await setup_world(runtime)
    trial = await act(runtime, world, "direct_super_admin", "subscription.add", "direct",
                      lambda ctx, d: service.add_subscription(ctx, d, world.organizations["direct"],
                                                              plan_code="MAIL_STANDARD", license_count=2, trial=True))
    await act(runtime, world, "direct_super_admin", "subscription.change", "direct",
              lambda ctx, d: service.change_subscription(ctx, d, trial.id, plan_code="MAIL_PREMIUM", license_count=9))
    assert await rows(runtime, models.InvoiceLine) == []


@pytest.mark.parametrize("kwargs, code", [
    ({"license_count": 0}, "INVALID_LICENSE_COUNT"),
    ({"license_count": -1}, "INVALID_LICENSE_COUNT"),
    ({"plan_code": "NOPE"}, "UNKNOWN_PLAN"),
    ({"plan_code": "DESK_STANDARD"}, "PLAN_OF_ANOTHER_PRODUCT"),
    ({"license_count": 10}, "NOTHING_TO_CHANGE"),
    ({"storage_gb": 2}, "INVALID_STORAGE"),
    ({"add_ons": [service.AddOnRequest("VERTICAL_STORAGE", 1)]}, "ADD_ON_OF_ANOTHER_PRODUCT"),
    ({"add_ons": [service.AddOnRequest("MAIL_EXTRA_STORAGE", 1), service.AddOnRequest("mail_extra_storage", 2)]},
     "DUPLICATE_ADD_ON"),
])
async def test_invalid_changes_are_user_errors_and_change_nothing(runtime, kwargs, code):
    world = await setup_world(runtime)
    sub = world.subscriptions["direct_mail"]
    error = await refused(runtime, world, "direct_super_admin", "subscription.change", "direct",
                          lambda ctx, d: service.change_subscription(ctx, d, sub, **kwargs))
    assert error.code == code
    [row] = await rows(runtime, models.Subscription, models.Subscription.id == sub)
    assert (row.license_count, row.plan_id, row.version) == (10, world.plans["MAIL_STANDARD"], 1)
    assert await rows(runtime, models.InvoiceLine) == []


# ---------------------------------------------------------------- suspend, enable, auto-renew
async def test_suspend_enable_and_their_refusals(runtime):
    world = await setup_world(runtime)
    sub = world.subscriptions["direct_mail"]

    async def run(fn: Any) -> Any:
        return await act(runtime, world, "direct_super_admin", "subscription.suspend", "direct", fn)

    assert (await run(lambda ctx, d: service.suspend_subscription(ctx, d, sub))).status == "SUSPENDED"
    error = await refused(runtime, world, "direct_super_admin", "subscription.suspend", "direct",
                          lambda ctx, d: service.suspend_subscription(ctx, d, sub))
    assert error.code == "ALREADY_SUSPENDED"
    error = await refused(runtime, world, "direct_super_admin", "subscription.change", "direct",
                          lambda ctx, d: service.change_subscription(ctx, d, sub, license_count=11))
    assert error.code == "SUBSCRIPTION_NOT_CHANGEABLE" and "enable it first" in error.message
    assert (await run(lambda ctx, d: service.enable_subscription(ctx, d, sub))).status == "ACTIVE"
    error = await refused(runtime, world, "direct_super_admin", "subscription.enable", "direct",
                          lambda ctx, d: service.enable_subscription(ctx, d, sub))
    assert error.code == "ALREADY_ENABLED"
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(models.Subscription).where(models.Subscription.id == sub).values(status="CANCELLED"))
    error = await refused(runtime, world, "direct_super_admin", "subscription.enable", "direct",
                          lambda ctx, d: service.enable_subscription(ctx, d, sub))
    assert error.code == "SUBSCRIPTION_CANCELLED" and "cancelled" in error.message
    kinds = [c.kind for c in await rows(runtime, models.SubscriptionChange, models.SubscriptionChange.subscription_id == sub)]
    assert kinds == ["SUSPENDED", "ENABLED"]


async def test_enabling_a_suspended_trial_returns_to_trial(runtime):
    world = await setup_world(runtime)
    trial = await act(runtime, world, "direct_super_admin", "subscription.add", "direct",
                      lambda ctx, d: service.add_subscription(ctx, d, world.organizations["direct"],
                                                              plan_code="MAIL_STANDARD", license_count=2, trial=True))
    await act(runtime, world, "direct_super_admin", "subscription.suspend", "direct",
              lambda ctx, d: service.suspend_subscription(ctx, d, trial.id))
    enabled = await act(runtime, world, "direct_super_admin", "subscription.enable", "direct",
                        lambda ctx, d: service.enable_subscription(ctx, d, trial.id))
    assert enabled.status == "TRIAL"


async def test_set_auto_renew_records_the_change_and_audit(runtime):
    world = await setup_world(runtime)
    sub = world.subscriptions["acme_mail"]
    result = await act(runtime, world, "reseller_admin", "subscription.set_auto_renew", "acme",
                       lambda ctx, d: service.set_auto_renew(ctx, d, sub, False))
    assert result.auto_renew is False
    error = await refused(runtime, world, "reseller_admin", "subscription.set_auto_renew", "acme",
                          lambda ctx, d: service.set_auto_renew(ctx, d, sub, False))
    assert error.code == "NOTHING_TO_CHANGE"
    [event] = await rows(runtime, AuditEvent, AuditEvent.action == "subscription.set_auto_renew")
    assert event.via == "PARTNER_ADMIN" and event.partner_id == world.partners["reseller"]
    assert event.organization_id == world.organizations["acme"] and event.details["autoRenew"] is False


async def test_every_change_emits_a_subscription_event(runtime):
    from gateway.hookspecs import hookimpl
    from gateway.testing import clear_tables, create_tables, make_test_runtime
    from schema.subscriptions.events import SubscriptionChanged

    seen: list[tuple[int, str]] = []

    class Listener:
        @hookimpl
        def gateway_event(self, ctx, event):  # type: ignore[no-untyped-def]
            if isinstance(event, SubscriptionChanged):
                seen.append((event.subscription_id, event.change_kind))

    backend = "sqlite" if runtime.settings.is_sqlite else "postgres"
    listening = make_test_runtime(backend, plugins=[], extra_plugins=[("listener", Listener())])
    try:
        await create_tables(listening)
        await clear_tables(listening)
        world = await setup_world(listening)
        sub = world.subscriptions["direct_mail"]
        await act(listening, world, "direct_super_admin", "subscription.suspend", "direct",
                  lambda ctx, d: service.suspend_subscription(ctx, d, sub))
        await act(listening, world, "direct_super_admin", "subscription.enable", "direct",
                  lambda ctx, d: service.enable_subscription(ctx, d, sub))
        assert seen == [(sub, "SUSPENDED"), (sub, "ENABLED")]
    finally:
        await clear_tables(listening)
        await listening.dispose()
