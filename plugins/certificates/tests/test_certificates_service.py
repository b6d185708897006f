"""Service-level rules of the certificates plugin, on fixed dates (both backends)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from gateway.errors import DomainError
from gateway.testing import HookRecorder
from plugins.certificates.models import CertificateInventory
from plugins.certificates.service import (
    CURRENT,
    RENEWAL,
    Item,
    SubscriptionSpec,
    add_inventory,
    add_years,
    create_subscriptions,
    prorated_amount,
    use_inventory,
)
from plugins.certificates.testing import add_subscription, at, certificate_world
from schema.catalog.pricing import add_period
from schema.models import InvoiceLine, RenewalCharge, Subscription, SubscriptionChange
from schema.subscriptions.events import SubscriptionRenewalDue
from schema.subscriptions.renewals import next_period_start, renew_due
from schema.subscriptions.service import load_subscription_for_update

D = Decimal


# ---------------------------------------------------------------- pure rules
@pytest.mark.parametrize("start, end, when, expected", [
    # 365-day period, 149.00 × 2 = 298.00
    (at(2025, 3, 1), at(2026, 3, 1), at(2025, 3, 1, 23), D("298.00")),      # first day: 365/365
    (at(2025, 3, 1), at(2026, 3, 1), at(2025, 8, 31), D("148.59")),         # mid-period: 298 × 182/365 = 148.5918
    (at(2025, 3, 1), at(2026, 3, 1), at(2026, 2, 28, 23), D("0.82")),       # last day: 1/365 × 298 = 0.8164 -> 0.82
    (at(2025, 3, 1), at(2026, 3, 1), at(2026, 3, 1, 0), D("0.00")),         # at the end: nothing left
    # leap year: 2024-01-01 .. 2025-01-01 is 366 days; 2024-07-01 leaves 184 days
    (at(2024, 1, 1), at(2025, 1, 1), at(2024, 7, 1), D("149.81")),          # 298 × 184 / 366 = 149.8142
    (at(2024, 1, 1), at(2025, 1, 1), at(2024, 12, 31), D("0.81")),          # 298 × 1 / 366 = 0.8142
    (at(2023, 3, 1), at(2024, 3, 1), at(2024, 2, 29), D("0.81")),           # period holding 29 Feb: 366 days
])
def test_prorated_amount_on_exact_dates(start, end, when, expected):
    assert prorated_amount(D("149.00"), 2, start, end, when) == expected


def test_prorated_amount_rounds_half_up_and_credits_symmetrically():
    # 10.00 × 1 day / 8 days = 1.25 exactly; 1.00 × 3 / 8 = 0.375 -> 0.38 (half up), credit -0.38
    assert prorated_amount(D("10.00"), 1, at(2025, 1, 1), at(2025, 1, 9), at(2025, 1, 8)) == D("1.25")
    assert prorated_amount(D("1.00"), 1, at(2025, 1, 1), at(2025, 1, 9), at(2025, 1, 6)) == D("0.38")
    assert prorated_amount(D("1.00"), -1, at(2025, 1, 1), at(2025, 1, 9), at(2025, 1, 6)) == D("-0.38")


def test_yearly_periods_and_leap_days():
    assert add_years(at(2024, 2, 29)) == at(2025, 2, 28)
    assert add_years(at(2025, 6, 30)) == at(2026, 6, 30)
    assert add_period(at(2024, 2, 29), "YEARLY") == at(2025, 2, 28)  # the core's renewal periods agree
    # one period after the end when renewed on time
    assert next_period_start(at(2025, 6, 30), "YEARLY", at(2025, 7, 1)) == at(2025, 6, 30)
    # renewals missed for two years: the period that contains as_of, missed years not billed
    assert next_period_start(at(2022, 6, 30), "YEARLY", at(2024, 7, 1)) == at(2024, 6, 30)
    # exactly on the boundary the new period starts at as_of
    assert next_period_start(at(2025, 6, 30), "YEARLY", at(2026, 6, 30)) == at(2026, 6, 30)


# ---------------------------------------------------------------- with a database
async def _lines(session, subscription_id):
    return (await session.scalars(select(InvoiceLine).where(InvoiceLine.subscription_id == subscription_id)
                                  .order_by(InvoiceLine.id))).all()


async def _inventory(session, subscription_id):
    rows = (await session.scalars(select(CertificateInventory).where(
        CertificateInventory.subscription_id == subscription_id).execution_options(populate_existing=True))).all()
    from plugins.certificates.models import CertificateType
    codes = {t.id: t.code for t in (await session.scalars(select(CertificateType))).all()}
    return {codes[r.certificate_type_id]: (r.current, r.renewal, r.used) for r in rows}


async def test_create_subscriptions_sets_inventory_period_and_first_year_lines(runtime):
    world = await certificate_world(runtime)
    now = at(2025, 3, 1)
    async with runtime.sessions() as session, session.begin():
        first, second = await create_subscriptions(session, organization_id=world.organizations["direct"], now=now, specs=[
            SubscriptionSpec([Item("DV", 10), Item("ev", 1)], auto_renew=True),
            SubscriptionSpec([Item("OV", 2)], auto_renew=False),
        ])
    async with runtime.sessions() as session:
        sub = await session.get(Subscription, first.id)
        assert (sub.status, sub.auto_renew, sub.current_period_start, sub.current_period_end) == (
            "ACTIVE", True, now, at(2026, 3, 1))
        assert (await session.get(Subscription, second.id)).auto_renew is False
        assert await _inventory(session, first.id) == {"DV": (10, 10, 0), "EV": (1, 1, 0)}
        assert await _inventory(session, second.id) == {"OV": (2, 2, 0)}
        lines = await _lines(session, first.id)
        assert [(line.amount, line.prorated, line.source) for line in lines] == [
            (D("490.0000"), False, "certificates"), (D("299.0000"), False, "certificates")]
        assert [c.kind for c in (await session.scalars(select(SubscriptionChange).where(
            SubscriptionChange.subscription_id == first.id))).all()] == ["ADDED"]


@pytest.mark.parametrize("specs, code, field", [
    ([SubscriptionSpec([Item("NOPE", 1)])], "UNKNOWN_CERTIFICATE_TYPE", ["subscriptions", "0", "items", "0", "certificateTypeCode"]),
    ([SubscriptionSpec([Item("DV", 1)]), SubscriptionSpec([Item("DV", 1), Item("DV", 2)])], "DUPLICATE_CERTIFICATE_TYPE",
     ["subscriptions", "1", "items", "1", "certificateTypeCode"]),
    ([SubscriptionSpec([Item("DV", 0)])], "INVALID_QUANTITY", ["subscriptions", "0", "items", "0", "quantity"]),
    ([SubscriptionSpec([])], "NO_ITEMS", ["subscriptions", "0", "items"]),
    ([], "NO_SUBSCRIPTIONS", ["subscriptions"]),
])
async def test_create_subscriptions_refusals(runtime, specs, code, field):
    world = await certificate_world(runtime)
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(DomainError) as error:
            await create_subscriptions(session, organization_id=world.organizations["direct"], now=at(2025, 3, 1), specs=specs)
        assert (error.value.code, error.value.field) == (code, field)


async def test_current_inventory_is_prorated_and_renewal_is_free(runtime):
    world = await certificate_world(runtime)
    sub_id = await add_subscription(runtime, world.organizations["direct"], {"OV": 2}, now=at(2024, 1, 1))
    async with runtime.sessions() as session, session.begin():
        sub = await load_subscription_for_update(session, sub_id)
        lines = await add_inventory(session, subscription=sub, kind=CURRENT, items=[Item("OV", 2), Item("DV", 3)],
                                    now=at(2024, 7, 1))
        assert [(line.amount, line.prorated) for line in lines] == [
            (D("149.8100"), True),                # 149 × 2 × 184/366 = 149.8142
            (D("73.9000"), True),                 # 49 × 3 × 184/366 = 73.9016
        ]
        assert "184/366" in lines[0].description
        assert await add_inventory(session, subscription=sub, kind=RENEWAL, items=[Item("OV", 5)], now=at(2024, 7, 1)) == []
    async with runtime.sessions() as session:
        assert await _inventory(session, sub_id) == {"OV": (4, 7, 0), "DV": (3, 0, 0)}
        assert len(await _lines(session, sub_id)) == 1 + 2  # the first year + two pro-rated lines


async def test_reductions_renewal_not_below_zero_current_not_below_used(runtime):
    world = await certificate_world(runtime)
    now = at(2025, 1, 1)
    sub_id = await add_subscription(runtime, world.organizations["direct"], {"DV": 5}, now=now)
    async with runtime.sessions() as session, session.begin():
        for _ in range(3):
            await use_inventory(session, subscription_id=sub_id, certificate_type_code="DV", now=now)
    async with runtime.sessions() as session, session.begin():
        sub = await load_subscription_for_update(session, sub_id)
        await add_inventory(session, subscription=sub, kind=RENEWAL, items=[Item("DV", -5)], now=now)
        with pytest.raises(DomainError) as error:
            await add_inventory(session, subscription=sub, kind=RENEWAL, items=[Item("DV", -1)], now=now)
        assert (error.value.code, error.value.field) == ("RENEWAL_BELOW_ZERO", ["items", "0", "quantity"])
        with pytest.raises(DomainError) as error:
            await add_inventory(session, subscription=sub, kind=CURRENT, items=[Item("DV", -3)], now=now)
        assert error.value.code == "CURRENT_BELOW_USED"
        [credit] = await add_inventory(session, subscription=sub, kind=CURRENT, items=[Item("DV", -2)],
                                       now=at(2025, 7, 2))  # 183 of 365 days left
        assert credit.amount == D("-49.13")  # -98 × 183/365 = -49.134
    async with runtime.sessions() as session:
        assert await _inventory(session, sub_id) == {"DV": (3, 0, 3)}


async def test_use_consumes_one_unit_until_none_left(runtime):
    world = await certificate_world(runtime)
    now = at(2025, 1, 1)
    sub_id = await add_subscription(runtime, world.organizations["direct"], {"EV": 2}, now=now)
    async with runtime.sessions() as session, session.begin():
        assert (await use_inventory(session, subscription_id=sub_id, certificate_type_code="EV", now=now)).used == 1
        assert (await use_inventory(session, subscription_id=sub_id, certificate_type_code="ev", now=now)).used == 2
        with pytest.raises(DomainError) as error:
            await use_inventory(session, subscription_id=sub_id, certificate_type_code="EV", now=now)
        assert error.value.code == "NO_INVENTORY_LEFT"
        with pytest.raises(DomainError) as error:
            await use_inventory(session, subscription_id=sub_id, certificate_type_code="DV", now=now)
        assert error.value.code == "NO_INVENTORY_LEFT"  # a type never bought
        with pytest.raises(DomainError) as error:
            await use_inventory(session, subscription_id=sub_id, certificate_type_code="XX", now=now)
        assert error.value.code == "UNKNOWN_CERTIFICATE_TYPE"


@pytest.mark.parametrize("status, when, code", [
    ("SUSPENDED", at(2025, 2, 1), "SUBSCRIPTION_SUSPENDED"),
    ("EXPIRED", at(2025, 2, 1), "SUBSCRIPTION_NOT_ACTIVE"),
    ("ACTIVE", at(2026, 1, 1), "SUBSCRIPTION_PERIOD_ENDED"),
])
async def test_inventory_unusable_unless_active_within_period(runtime, status, when, code):
    world = await certificate_world(runtime)
    sub_id = await add_subscription(runtime, world.organizations["direct"], {"DV": 2}, now=at(2025, 1, 1))
    async with runtime.sessions() as session, session.begin():
        (await session.get(Subscription, sub_id)).status = status
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(DomainError) as error:
            await use_inventory(session, subscription_id=sub_id, certificate_type_code="DV", now=when)
        assert error.value.code == code
        sub = await load_subscription_for_update(session, sub_id)
        with pytest.raises(DomainError) as error:
            await add_inventory(session, subscription=sub, kind=CURRENT, items=[Item("DV", 1)], now=when)
        assert error.value.code == code


async def test_renewal_renews_auto_renew_expires_others_and_is_idempotent(runtime):
    world = await certificate_world(runtime)
    org = world.organizations["direct"]
    renewing = await add_subscription(runtime, org, {"DV": 4, "OV": 1}, auto_renew=True, now=at(2024, 3, 10))
    expiring = await add_subscription(runtime, org, {"EV": 1}, auto_renew=False, now=at(2024, 3, 10))
    not_due = await add_subscription(runtime, org, {"DV": 1}, auto_renew=True, now=at(2024, 6, 1))
    suspended = await add_subscription(runtime, org, {"DV": 1}, auto_renew=True, now=at(2024, 3, 1))
    async with runtime.sessions() as session, session.begin():
        (await session.get(Subscription, suspended)).status = "SUSPENDED"
        for _ in range(3):
            await use_inventory(session, subscription_id=renewing, certificate_type_code="DV", now=at(2024, 4, 1))
        sub = await load_subscription_for_update(session, renewing)
        await add_inventory(session, subscription=sub, kind=RENEWAL, items=[Item("DV", 2), Item("OV", -1)],
                            now=at(2024, 4, 1))
    as_of = at(2025, 3, 11)
    with HookRecorder(runtime.plugin_manager) as recorder:
        outcome = await renew_due(runtime, as_of)  # the core's sweep; this plugin rolls its inventory
    assert (outcome.renewed, outcome.expired, outcome.errors) == ([renewing], [expiring], [])
    due_seen = [e.subscription_id for e in recorder.events if isinstance(e, SubscriptionRenewalDue)]
    assert due_seen == [renewing, expiring]
    async with runtime.sessions() as session:
        sub = await session.get(Subscription, renewing)
        assert (sub.status, sub.current_period_start, sub.current_period_end) == ("ACTIVE", at(2025, 3, 10), at(2026, 3, 10))
        assert await _inventory(session, renewing) == {"DV": (6, 6, 0), "OV": (0, 0, 0)}
        # charged on the card at the renewal (no invoice line: the renewal is paid, not billed later)
        [charge] = (await session.scalars(select(RenewalCharge).where(RenewalCharge.subscription_id == renewing))).all()
        assert (charge.amount, charge.status) == (D("294.0000"), "PAID")  # 6 × 49
        assert "2025-03-10 to 2026-03-10" in charge.description
        assert not [line for line in await _lines(session, renewing) if line.description.startswith("Renewal")]
        assert (await session.get(Subscription, expiring)).status == "EXPIRED"
        assert (await session.get(Subscription, not_due)).current_period_end == at(2025, 6, 1)
        assert (await session.get(Subscription, suspended)).status == "SUSPENDED"
        line_count = await session.scalar(select(func.count(InvoiceLine.id)))
        change_count = await session.scalar(select(func.count(SubscriptionChange.id)))

    again = await renew_due(runtime, as_of)
    assert (again.renewed, again.expired) == ([], [])
    async with runtime.sessions() as session:
        assert await session.scalar(select(func.count(InvoiceLine.id))) == line_count
        assert await session.scalar(select(func.count(SubscriptionChange.id))) == change_count
        assert (await session.get(Subscription, renewing)).current_period_end == at(2026, 3, 10)
