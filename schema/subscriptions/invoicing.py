"""Invoice lines of a mid-period change: pro-rated increases and credits, or a switch of billing period."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from schema.billing.proration import prorate
from schema.billing.service import add_invoice_line
from schema.catalog.pricing import Charge, add_period
from schema.models import Plan, Subscription


async def prorated_lines(session: AsyncSession, subscription: Subscription, old: list[Charge], new: list[Charge],
                         at: dt.datetime) -> list[dict[str, Any]]:
    """One line per component whose price changed: the difference × days left ÷ days in the period."""
    before = {(c.key, c.currency): c for c in old}
    after = {(c.key, c.currency): c for c in new}
    days_left = max(0, min((subscription.current_period_end.date() - at.date()).days,
                           (subscription.current_period_end.date() - subscription.current_period_start.date()).days))
    lines = []
    for key in [*after, *(k for k in before if k not in after)]:
        was, now_ = before.get(key), after.get(key)
        difference = (now_.amount if now_ else Decimal("0")) - (was.amount if was else Decimal("0"))
        amount = prorate(difference, subscription.current_period_start, subscription.current_period_end, at)
        if amount == 0:
            continue
        if now_ is None:
            assert was is not None  # every key comes from `before` or `after`
            what = f"{was.description} removed"
        elif was is None or now_.description == was.description:
            what = now_.description
        else:
            what = f"{now_.description} (was {was.description})"
        label = "Pro-rated increase" if amount > 0 else "Pro-rated credit"
        line = await add_invoice_line(
            session, organization_id=subscription.organization_id, subscription_id=subscription.id,
            description=f"{label}: {what}, {days_left} days left in the period", amount=amount,
            currency=key[1], prorated=True, source="core",
        )
        lines.append({"description": line.description, "amount": str(line.amount), "currency": line.currency})
    return lines


async def switch_period_lines(session: AsyncSession, subscription: Subscription, old: list[Charge],
                              new: list[Charge], plan: Plan, at: dt.datetime) -> list[dict[str, Any]]:
    """Credit the rest of the old period, start a new period of ``plan`` now and bill it in full."""
    lines = []
    for charge in old:
        credit = prorate(-charge.amount, subscription.current_period_start, subscription.current_period_end, at)
        if credit:
            line = await add_invoice_line(
                session, organization_id=subscription.organization_id, subscription_id=subscription.id,
                description=f"Pro-rated credit: {charge.description}, rest of the old period", amount=credit,
                currency=charge.currency, prorated=True, source="core")
            lines.append({"description": line.description, "amount": str(line.amount), "currency": line.currency})
    subscription.current_period_start = at
    subscription.current_period_end = add_period(at, plan.billing_period)
    for charge in new:
        line = await add_invoice_line(
            session, organization_id=subscription.organization_id, subscription_id=subscription.id,
            description=f"{charge.description}, new {plan.billing_period.lower()} period from {at:%Y-%m-%d}",
            amount=charge.amount, currency=charge.currency, prorated=False, source="core")
        lines.append({"description": line.description, "amount": str(line.amount), "currency": line.currency})
    return lines
