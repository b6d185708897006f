"""Subscription rules: who may change them, loading them for update, and every transition."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.context import Context
from gateway.db import utcnow
from gateway.errors import DomainError, NotFound
from gateway.events import emit
from gateway.policy import Decision
from schema.access import DELEGATED_ADMIN, MAPPED_ADMIN, ORG_SUPER_ADMIN, audit, organization_access
from schema.billing.service import charge_organization
from schema.catalog.pricing import Charge, PeriodPrices, add_period, period_charges
from schema.catalog.service import add_ons_by_code, plan_by_code
from schema.models import AddOn, Organization, Partner, Plan, Subscription, SubscriptionAddOn, SubscriptionChange
from schema.subscriptions.dunning import charge_before_enabling
from schema.subscriptions.events import subscription_event
from schema.subscriptions.invoicing import prorated_lines, switch_period_lines

MAX_LICENSES = 100_000
MAX_STORAGE_GB = 1_000_000


async def ensure_subscription_authority(ctx: Context, decision: Decision, organization_id: int) -> None:
    """The subscription-authority rule of DESIGN.md, after the policy allowed the action.

    For an organization mapped to a partner (reseller purchase mode) only that partner's
    admins (and platform admins) change plans, licenses, storage and add-ons; the
    organization's own super admin gets PARTNER_MANAGED_SUBSCRIPTION naming the partner.
    A direct customer (no mapped partner) manages its own subscriptions.
    """
    organization = await ctx.session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("No organization has that ID.")
    if organization.partner_id is None:
        return
    grant = decision.grant
    if grant.name == MAPPED_ADMIN or grant.via == "PLATFORM":
        return
    # A viewer holding the mapped partner's admin grant besides the one the policy picked is that partner's admin.
    access = (await organization_access(ctx, [organization_id])).get(organization_id)
    if access is not None and any(g.name == MAPPED_ADMIN and not g.suspended for g in access.grants):
        return
    if grant.name == DELEGATED_ADMIN and grant.through == organization.partner_id:
        return
    partner = await ctx.session.get(Partner, organization.partner_id)
    partner_name = partner.name if partner is not None else "your partner"
    if grant.name == ORG_SUPER_ADMIN or grant.via == "MEMBERSHIP":
        message = (f"Your subscriptions are managed by your partner {partner_name}; "
                   f"contact your partner {partner_name} to change them.")
    else:
        message = (f"This organization's subscriptions are managed by its partner {partner_name}; "
                   "only that partner's admins can change them.")
    raise DomainError("PARTNER_MANAGED_SUBSCRIPTION", message)


async def load_subscription_for_update(session: AsyncSession, subscription_id: int) -> Subscription:
    """The subscription row, locked (SELECT ... FOR UPDATE) until the transaction ends on PostgreSQL.

    SQLite has no row locks; there a write transaction serializes writers instead. The row
    is re-read from the database even if the session already holds it (populate_existing).
    """
    row = await session.scalar(
        select(Subscription).where(Subscription.id == subscription_id).with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("No subscription has that ID.")
    return row


# ---------------------------------------------------------------- transitions
ENDED = ("CANCELLED", "EXPIRED")


@dataclass
class AddOnRequest:
    code: str
    quantity: int


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or utcnow()


def _check_licenses(license_count: int) -> None:
    if license_count < 1:
        raise DomainError("INVALID_LICENSE_COUNT", "A subscription needs at least 1 license.", "licenseCount")
    if license_count > MAX_LICENSES:
        raise DomainError("INVALID_LICENSE_COUNT", f"At most {MAX_LICENSES} licenses per subscription; "
                          "submit a large deal for more.", "licenseCount")


def _storage_for(plan: Plan, requested: int | None, current: int | None = None) -> int:
    if requested is None:
        return max(current or 0, plan.included_storage_gb)
    if requested < plan.included_storage_gb:
        raise DomainError("INVALID_STORAGE", f"Storage cannot be below the {plan.included_storage_gb} GB included "
                          f"in {plan.name}.", "storageGb")
    if requested > MAX_STORAGE_GB:
        raise DomainError("INVALID_STORAGE", f"At most {MAX_STORAGE_GB} GB of storage.", "storageGb")
    return requested


async def _resolve_add_ons(session: AsyncSession, product_id: int, requests: list[AddOnRequest],
                           *, allow_zero: bool) -> dict[int, tuple[AddOn, int]]:
    codes = [r.code.strip().upper() for r in requests]
    if len(set(codes)) != len(codes):
        raise DomainError("DUPLICATE_ADD_ON", "Each add-on may be listed once.", "addOns")
    found = await add_ons_by_code(session, codes)
    result: dict[int, tuple[AddOn, int]] = {}
    for request, code in zip(requests, codes, strict=True):
        add_on = found[code]
        if add_on.product_id != product_id:
            raise DomainError("ADD_ON_OF_ANOTHER_PRODUCT", f"The add-on {code} belongs to another product.",
                              ["addOns", "code"])
        if request.quantity < 0 or (request.quantity == 0 and not allow_zero):
            raise DomainError("INVALID_ADD_ON_QUANTITY",
                              f"The quantity of {code} must be at least 1" + (" (0 removes it)." if allow_zero else "."),
                              ["addOns", "quantity"])
        result[add_on.id] = (add_on, request.quantity)
    return result


async def subscription_add_ons(session: AsyncSession, subscription_id: int) -> dict[int, tuple[SubscriptionAddOn, AddOn]]:
    """The subscription's add-on rows (quantity, period price) with their catalog add-on, by add-on pk."""
    rows = (await session.execute(
        select(SubscriptionAddOn, AddOn).join(AddOn, SubscriptionAddOn.add_on_id == AddOn.id)
        .where(SubscriptionAddOn.subscription_id == subscription_id).order_by(SubscriptionAddOn.id)
    )).all()
    return {add_on.id: (row, add_on) for row, add_on in rows}


def lock_period_prices(subscription: Subscription, prices: PeriodPrices, add_ons: Iterable[SubscriptionAddOn]) -> None:
    """Record ``prices`` as what the subscription's current period is charged at (its add-on rows too)."""
    subscription.period_price_per_license = prices.per_license
    subscription.period_storage_price_per_gb = prices.storage_per_gb
    for row in add_ons:
        row.period_unit_price = prices.add_ons[row.add_on_id]


def _total(charges: list[Charge]) -> tuple[Decimal, str]:
    currencies = {c.currency for c in charges}
    if len(currencies) > 1:
        raise DomainError("MIXED_CURRENCIES", "This subscription's components are priced in several currencies.")
    return sum((c.amount for c in charges), Decimal("0")), (currencies.pop() if currencies else "USD")


async def _record(ctx: Context, decision: Decision, subscription: Subscription, kind: str, action: str, *,
                  from_plan_id: int | None = None, from_licenses: int | None = None,
                  details: dict[str, Any] | None = None, at: dt.datetime | None = None) -> SubscriptionChange:
    """The change row, the audit event and the subscription event, in the caller's transaction."""
    change = SubscriptionChange(
        subscription_id=subscription.id, kind=kind,
        from_plan_id=from_plan_id if from_plan_id is not None else subscription.plan_id, to_plan_id=subscription.plan_id,
        from_licenses=from_licenses if from_licenses is not None else subscription.license_count,
        to_licenses=subscription.license_count, details=details or {}, actor_user_id=ctx.viewer.user_id,
        via=decision.via, at=_now(at),
    )
    ctx.session.add(change)
    await ctx.session.flush()
    audit(ctx, decision, action, organization_id=subscription.organization_id,
          details={"subscriptionId": subscription.id, "kind": kind, **(details or {})})
    await emit(ctx, subscription_event(subscription, change))
    return change


async def add_subscription(
    ctx: Context, decision: Decision, organization_id: int, *, plan_code: str, license_count: int,
    storage_gb: int | None = None, auto_renew: bool = True, add_ons: list[AddOnRequest] | None = None,
    trial: bool = False, now: dt.datetime | None = None,
) -> Subscription:
    """A new trial (free for the plan's trial days) or paid subscription; a paid one charges its first period."""
    await ensure_subscription_authority(ctx, decision, organization_id)
    session = ctx.session
    plan = await plan_by_code(session, plan_code)
    _check_licenses(license_count)
    storage = _storage_for(plan, storage_gb)
    chosen = await _resolve_add_ons(session, plan.product_id, add_ons or [], allow_zero=False)
    start = _now(now)
    prices = PeriodPrices.list_prices(plan, (add_on for add_on, _ in chosen.values()))  # the first period starts now
    if trial:
        if plan.trial_days <= 0:
            raise DomainError("TRIAL_NOT_AVAILABLE", f"{plan.name} has no trial; add it as a paid subscription.", "trial")
        end = start + dt.timedelta(days=plan.trial_days)
    else:
        end = add_period(start, plan.billing_period)
    subscription = Subscription(
        organization_id=organization_id, product_id=plan.product_id, plan_id=plan.id,
        status="TRIAL" if trial else "ACTIVE", license_count=license_count, storage_gb=storage, auto_renew=auto_renew,
        current_period_start=start, current_period_end=end, trial_ends_at=end if trial else None, created_at=start,
        period_price_per_license=prices.per_license, period_storage_price_per_gb=prices.storage_per_gb,
    )
    session.add(subscription)
    await session.flush()
    for add_on, quantity in chosen.values():
        session.add(SubscriptionAddOn(subscription_id=subscription.id, add_on_id=add_on.id, quantity=quantity,
                                      period_unit_price=prices.add_ons[add_on.id]))
    details: dict[str, Any] = {"trial": trial, "storageGb": storage,
                               "addOns": {a.code: q for a, q in chosen.values()}}
    if not trial:
        amount, currency = _total(period_charges(plan, prices, license_count, storage, chosen.values()))
        payment = await charge_organization(ctx, organization_id, amount, currency,
                                            f"{plan.name}: first period ({license_count} licenses)")
        details["paymentId"] = payment.id
        details["charged"] = str(amount)
    await _record(ctx, decision, subscription, "ADDED", "subscription.add", details=details, at=start)
    return subscription


async def subscription_organization(session: AsyncSession, subscription_id: int) -> int:
    """The organization of a subscription (NOT_FOUND when there is none), to authorize before locking."""
    organization_id = await session.scalar(select(Subscription.organization_id).where(Subscription.id == subscription_id))
    if organization_id is None:
        raise NotFound("No subscription has that ID.")
    return organization_id


async def purchase_subscription(ctx: Context, decision: Decision, subscription_id: int, *,
                                now: dt.datetime | None = None) -> Subscription:
    """Trial to paid: charges the first paid period, which starts now, at the list prices in force now."""
    subscription = await load_subscription_for_update(ctx.session, subscription_id)
    await ensure_subscription_authority(ctx, decision, subscription.organization_id)
    if subscription.status == "ACTIVE":
        raise DomainError("ALREADY_PURCHASED", "This subscription is already paid; change it instead.")
    if subscription.status != "TRIAL":
        raise DomainError("NOT_A_TRIAL", f"Only a trial can be purchased; this subscription is "
                          f"{subscription.status.lower()}.")
    plan = await ctx.session.get(Plan, subscription.plan_id)
    assert plan is not None
    rows = await subscription_add_ons(ctx.session, subscription.id)
    prices = PeriodPrices.list_prices(plan, (add_on for _, add_on in rows.values()))
    amount, currency = _total(period_charges(plan, prices, subscription.license_count, subscription.storage_gb,
                                             ((add_on, row.quantity) for row, add_on in rows.values())))
    payment = await charge_organization(ctx, subscription.organization_id, amount, currency,
                                        f"{plan.name}: first period ({subscription.license_count} licenses)")
    start = _now(now)
    subscription.status = "ACTIVE"
    subscription.current_period_start = start
    subscription.current_period_end = add_period(start, plan.billing_period)
    lock_period_prices(subscription, prices, (row for row, _ in rows.values()))
    subscription.version += 1
    await _record(ctx, decision, subscription, "PURCHASED", "subscription.purchase", at=start,
                  details={"paymentId": payment.id, "charged": str(amount)})
    return subscription


async def change_subscription(
    ctx: Context, decision: Decision, subscription_id: int, *, plan_code: str | None = None,
    license_count: int | None = None, storage_gb: int | None = None, add_ons: list[AddOnRequest] | None = None,
    now: dt.datetime | None = None,
) -> Subscription:
    """Plan up or down within the product, licenses, storage, add-ons (each listed add-on is set; 0 removes it).

    On a paid subscription, every component that grows mid-period adds a pro-rated line to the
    upcoming invoice and every component that shrinks adds a pro-rated credit (negative) line
    (``schema.billing.proration.prorate``). Switching to a plan with another billing period
    credits the rest of the old period and starts a new period now, billed on the next invoice.
    A trial changes for free.

    Prices: the old components are credited at the prices the current period was charged at
    (``PeriodPrices.locked``), whatever the list prices are now. For the rest of the period a
    component keeps its locked price, except a new plan (its list price in force now) and an add-on
    added now (its list price); a switch of billing period starts a new period at the list prices.
    The prices charged become the period's locked prices.
    """
    session = ctx.session
    subscription = await load_subscription_for_update(session, subscription_id)
    await ensure_subscription_authority(ctx, decision, subscription.organization_id)
    if subscription.status not in ("ACTIVE", "TRIAL"):
        raise DomainError("SUBSCRIPTION_NOT_CHANGEABLE", f"A {subscription.status.lower()} subscription cannot be "
                          "changed; enable it first." if subscription.status == "SUSPENDED" else
                          f"A {subscription.status.lower()} subscription cannot be changed.")
    old_plan = await session.get(Plan, subscription.plan_id)
    assert old_plan is not None
    new_plan = old_plan
    if plan_code is not None:
        new_plan = await plan_by_code(session, plan_code)
        if new_plan.product_id != subscription.product_id:
            raise DomainError("PLAN_OF_ANOTHER_PRODUCT", f"{new_plan.name} is a plan of another product; "
                              "add a subscription to that product instead.", "planCode")
    new_licenses = subscription.license_count if license_count is None else license_count
    _check_licenses(new_licenses)
    new_storage = _storage_for(new_plan, storage_gb, subscription.storage_gb)
    rows = await subscription_add_ons(session, subscription.id)
    old_add_ons = {pk: (add_on, row.quantity) for pk, (row, add_on) in rows.items()}
    requested = await _resolve_add_ons(session, subscription.product_id, add_ons or [], allow_zero=True)
    new_add_ons = {**old_add_ons, **requested}
    new_add_ons = {pk: pair for pk, pair in new_add_ons.items() if pair[1] > 0}
    if (new_plan.id == old_plan.id and new_licenses == subscription.license_count
            and new_storage == subscription.storage_gb
            and {pk: q for pk, (_, q) in new_add_ons.items()} == {pk: q for pk, (_, q) in old_add_ons.items()}):
        raise DomainError("NOTHING_TO_CHANGE", "The subscription already has these settings.")

    at = _now(now)
    locked = PeriodPrices.locked(subscription, (row for row, _ in rows.values()))
    added = [add_on for add_on, _ in new_add_ons.values()]
    if new_plan.billing_period != old_plan.billing_period:
        new_prices = PeriodPrices.list_prices(new_plan, added)  # a new period starts now
    else:
        new_prices = (locked.with_plan(new_plan) if new_plan.id != old_plan.id else locked).with_add_ons(added)
    lines: list[dict[str, Any]] = []
    if subscription.status == "ACTIVE":
        old = period_charges(old_plan, locked, subscription.license_count, subscription.storage_gb, old_add_ons.values())
        new = period_charges(new_plan, new_prices, new_licenses, new_storage, new_add_ons.values())
        if new_plan.billing_period != old_plan.billing_period:
            lines = await switch_period_lines(session, subscription, old, new, new_plan, at)
        else:
            lines = await prorated_lines(session, subscription, old, new, at)
    from_plan_id, from_licenses, from_storage = subscription.plan_id, subscription.license_count, subscription.storage_gb
    subscription.plan_id = new_plan.id
    subscription.license_count = new_licenses
    subscription.storage_gb = new_storage
    subscription.version += 1
    kept = []
    for pk, (row, _add_on) in rows.items():
        quantity = requested[pk][1] if pk in requested else row.quantity
        if quantity == 0:
            await session.delete(row)
        else:
            row.quantity = quantity
            kept.append(row)
    for pk, (_add_on, quantity) in requested.items():
        if pk not in rows and quantity > 0:
            kept.append(SubscriptionAddOn(subscription_id=subscription.id, add_on_id=pk, quantity=quantity))
            session.add(kept[-1])
    lock_period_prices(subscription, new_prices, kept)
    details = {
        "storageGb": {"from": from_storage, "to": new_storage},
        "addOns": {"from": {a.code: q for a, q in old_add_ons.values()}, "to": {a.code: q for a, q in new_add_ons.values()}},
        "invoiceLines": lines,
    }
    await _record(ctx, decision, subscription, "CHANGED", "subscription.change", from_plan_id=from_plan_id,
                  from_licenses=from_licenses, details=details, at=at)
    return subscription


async def set_auto_renew(ctx: Context, decision: Decision, subscription_id: int, auto_renew: bool) -> Subscription:
    subscription = await load_subscription_for_update(ctx.session, subscription_id)
    await ensure_subscription_authority(ctx, decision, subscription.organization_id)
    if subscription.status in ENDED:
        raise DomainError("SUBSCRIPTION_ENDED", f"This subscription is {subscription.status.lower()}; "
                          "auto-renewal no longer applies.")
    if subscription.auto_renew == auto_renew:
        raise DomainError("NOTHING_TO_CHANGE", f"Auto-renewal is already {'on' if auto_renew else 'off'}.", "autoRenew")
    subscription.auto_renew = auto_renew
    subscription.version += 1
    await _record(ctx, decision, subscription, "AUTO_RENEW", "subscription.set_auto_renew",
                  details={"autoRenew": auto_renew})
    return subscription


async def suspend_subscription(ctx: Context, decision: Decision, subscription_id: int) -> Subscription:
    subscription = await load_subscription_for_update(ctx.session, subscription_id)
    await ensure_subscription_authority(ctx, decision, subscription.organization_id)
    if subscription.status == "SUSPENDED":
        raise DomainError("ALREADY_SUSPENDED", "This subscription is already suspended.")
    if subscription.status in ENDED:
        raise DomainError("SUBSCRIPTION_ENDED", f"A {subscription.status.lower()} subscription cannot be suspended.")
    previous = subscription.status
    subscription.status = "SUSPENDED"
    subscription.version += 1
    await _record(ctx, decision, subscription, "SUSPENDED", "subscription.suspend",
                  details={"from": previous, "to": "SUSPENDED"})
    return subscription


async def enable_subscription(ctx: Context, decision: Decision, subscription_id: int, *,
                              now: dt.datetime | None = None) -> Subscription:
    """A suspended subscription becomes active again (a trial again while its trial lasts)."""
    subscription = await load_subscription_for_update(ctx.session, subscription_id)
    await ensure_subscription_authority(ctx, decision, subscription.organization_id)
    if subscription.status == "CANCELLED":
        raise DomainError("SUBSCRIPTION_CANCELLED", "A cancelled subscription cannot be enabled; add a new subscription.")
    if subscription.status == "EXPIRED":
        raise DomainError("SUBSCRIPTION_EXPIRED", "An expired subscription cannot be enabled; add a new subscription.")
    if subscription.status in ("ACTIVE", "TRIAL"):
        raise DomainError("ALREADY_ENABLED", "This subscription is not suspended.")
    if subscription.status == "PAST_DUE":
        raise DomainError("PAST_DUE", "This subscription is not suspended: its renewal charge is retried on the dunning "
                          "schedule; update the payment method before the next attempt.")
    settled = await charge_before_enabling(ctx, subscription, _now(now))  # a renewal left unpaid is charged first
    subscription.suspended_reason = None
    in_trial = subscription.trial_ends_at is not None and subscription.trial_ends_at > _now(now) \
        and subscription.current_period_end == subscription.trial_ends_at
    subscription.status = "TRIAL" if in_trial else "ACTIVE"
    subscription.version += 1
    await _record(ctx, decision, subscription, "ENABLED", "subscription.enable",
                  details={"from": "SUSPENDED", "to": subscription.status,
                           **({"paymentId": settled.payment_id, "charged": str(settled.amount)} if settled else {})})
    return subscription
