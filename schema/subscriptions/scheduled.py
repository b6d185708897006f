"""Changes scheduled for the next renewal: ``changeSubscription(effective: AT_RENEWAL)``, ``cancelScheduledChange``.

Rules (README "Renewals and dunning"):
- Any change may be scheduled, downgrades and seat reductions as upgrades (a customer may want a
  bigger plan to start with the next period); nothing is charged or credited now.
- One scheduled change per subscription. Scheduling again sets the fields the call names and keeps
  the others scheduled (add-ons merge code by code).
- Immediate changes in the meantime leave the scheduled change alone: at the renewal each field the
  scheduled change names wins (e.g. 10 licenses, 5 scheduled, +3 now = 13 until the renewal, then 5);
  the fields it does not name keep what the subscription has at the renewal.
- Only an ACTIVE (or PAST_DUE) subscription that renews can have one: a trial ends, a subscription
  without auto-renew expires (``SUBSCRIPTION_NOT_RENEWING``). Turning auto-renew off keeps it (on again,
  it applies); an expiry drops it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.context import Context
from gateway.db import utcnow
from gateway.errors import DomainError
from gateway.policy import Decision
from schema.catalog.service import add_ons_by_code, plan_by_code
from schema.models import Plan, ScheduledSubscriptionChange, Subscription, SubscriptionAddOn
from schema.subscriptions.service import (
    AddOnRequest,
    _check_licenses,
    _record,
    _resolve_add_ons,
    _storage_for,
    ensure_subscription_authority,
    load_subscription_for_update,
    subscription_add_ons,
)

RENEWING = ("ACTIVE", "PAST_DUE")


async def scheduled_change_of(session: AsyncSession, subscription_id: int) -> ScheduledSubscriptionChange | None:
    return await session.scalar(select(ScheduledSubscriptionChange)
                                .where(ScheduledSubscriptionChange.subscription_id == subscription_id))


def describe(change: ScheduledSubscriptionChange, plan_code: str | None) -> dict[str, Any]:
    return {"planCode": plan_code, "licenseCount": change.license_count, "storageGb": change.storage_gb,
            "addOns": dict(change.add_ons or {})}


async def schedule_change(
    ctx: Context, decision: Decision, subscription_id: int, *, plan_code: str | None = None,
    license_count: int | None = None, storage_gb: int | None = None, add_ons: list[AddOnRequest] | None = None,
) -> Subscription:
    """Store (or extend) the subscription's scheduled change; nothing is applied or charged now."""
    session = ctx.session
    subscription = await load_subscription_for_update(session, subscription_id)
    await ensure_subscription_authority(ctx, decision, subscription.organization_id)
    if subscription.status not in RENEWING or not subscription.auto_renew:
        why = ("a trial ends instead of renewing; change it now or purchase it" if subscription.status == "TRIAL"
               else "it does not renew; turn auto-renew on first" if subscription.status in RENEWING
               else f"it is {subscription.status.lower()}")
        raise DomainError("SUBSCRIPTION_NOT_RENEWING", f"A change cannot be scheduled for the renewal: {why}.",
                          "effective")
    if plan_code is None and license_count is None and storage_gb is None and not add_ons:
        raise DomainError("NOTHING_TO_CHANGE", "Name what changes at the renewal: planCode, licenseCount, "
                          "storageGb or addOns.")
    existing = await scheduled_change_of(session, subscription.id)
    plan_id = existing.plan_id if existing is not None else None
    if plan_code is not None:
        plan = await plan_by_code(session, plan_code)
        if plan.product_id != subscription.product_id:
            raise DomainError("PLAN_OF_ANOTHER_PRODUCT", f"{plan.name} is a plan of another product; "
                              "add a subscription to that product instead.", "planCode")
        plan_id = plan.id
    target = await session.get(Plan, plan_id if plan_id is not None else subscription.plan_id)
    assert target is not None
    if license_count is not None:
        _check_licenses(license_count)
    if storage_gb is not None:
        _storage_for(target, storage_gb)
    requested = await _resolve_add_ons(session, subscription.product_id, add_ons or [], allow_zero=True)
    if existing is None:
        existing = ScheduledSubscriptionChange(subscription_id=subscription.id, add_ons={})
        session.add(existing)
    existing.plan_id = plan_id
    existing.license_count = license_count if license_count is not None else existing.license_count
    existing.storage_gb = storage_gb if storage_gb is not None else existing.storage_gb
    existing.add_ons = {**(existing.add_ons or {}), **{a.code: q for a, q in requested.values()}}
    existing.created_at = utcnow()
    existing.created_by_user_id = ctx.viewer.user_id
    subscription.version += 1
    await session.flush()
    await _record(ctx, decision, subscription, "SCHEDULED_CHANGE", "subscription.schedule_change",
                  details={"scheduled": describe(existing, target.code if plan_id is not None else None),
                           "effectiveAt": subscription.current_period_end.isoformat()})
    return subscription


async def cancel_scheduled_change(ctx: Context, decision: Decision, subscription_id: int) -> Subscription:
    session = ctx.session
    subscription = await load_subscription_for_update(session, subscription_id)
    await ensure_subscription_authority(ctx, decision, subscription.organization_id)
    existing = await scheduled_change_of(session, subscription.id)
    if existing is None:
        raise DomainError("NO_SCHEDULED_CHANGE", "This subscription has no change scheduled for its renewal.")
    plan = await session.get(Plan, existing.plan_id) if existing.plan_id is not None else None
    cancelled = describe(existing, plan.code if plan is not None else None)
    await session.delete(existing)
    subscription.version += 1
    await session.flush()
    await _record(ctx, decision, subscription, "SCHEDULED_CHANGE_CANCELLED", "subscription.cancel_scheduled_change",
                  details={"cancelled": cancelled})
    return subscription


async def apply_scheduled_change(session: AsyncSession, subscription: Subscription) -> dict[str, Any] | None:
    """At a renewal (row locked): apply and remove the scheduled change; what was applied, for the change row.

    A field that no longer fits (a plan taken off the catalog's product, storage below the new plan's
    included GB) falls back to what the subscription has, or the plan's included storage."""
    change = await scheduled_change_of(session, subscription.id)
    if change is None:
        return None
    applied: dict[str, Any] = {}
    if change.plan_id is not None and change.plan_id != subscription.plan_id:
        plan = await session.get(Plan, change.plan_id)
        if plan is not None and plan.product_id == subscription.product_id:
            subscription.plan_id = plan.id
            applied["planCode"] = plan.code
    plan = await session.get(Plan, subscription.plan_id)
    assert plan is not None
    if change.license_count is not None:
        subscription.license_count = change.license_count
        applied["licenseCount"] = change.license_count
    storage = change.storage_gb if change.storage_gb is not None else subscription.storage_gb
    subscription.storage_gb = max(storage, plan.included_storage_gb)
    if change.storage_gb is not None:
        applied["storageGb"] = subscription.storage_gb
    if change.add_ons:
        rows = await subscription_add_ons(session, subscription.id)
        by_code = {add_on.code: row for row, add_on in rows.values()}
        catalog = await add_ons_by_code(session, list(change.add_ons)) if change.add_ons else {}
        for code, quantity in change.add_ons.items():
            row = by_code.get(code)
            if quantity == 0 and row is not None:
                await session.delete(row)
            elif row is not None:
                row.quantity = quantity
            elif quantity > 0 and code in catalog and catalog[code].product_id == subscription.product_id:
                session.add(SubscriptionAddOn(subscription_id=subscription.id, add_on_id=catalog[code].id,
                                              quantity=quantity, period_unit_price=catalog[code].unit_price))
        applied["addOns"] = dict(change.add_ons)
    await session.delete(change)
    await session.flush()
    return applied
