"""Pro-ration of a period's price for a change in the middle of the period."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from schema.common import round_money


def prorate(amount: Decimal, period_start: dt.datetime | dt.date, period_end: dt.datetime | dt.date,
            at: dt.datetime | dt.date) -> Decimal:
    """The part of ``amount`` (the price of the whole period) still to run at ``at``.

    Exact rule, on calendar dates (UTC) only, times of day ignored:
      days_in_period = period_end.date() - period_start.date()   (whole days)
      days_left      = period_end.date() - at.date(), clamped to 0..days_in_period
      result         = round_money(amount * days_left / days_in_period)   (cent, half away from zero)
    A change on the first day of a 30-day period pays 30/30; on the last day (at == period_end) 0/30;
    a change before the period starts pays the whole period, after it ends nothing. A negative
    ``amount`` (a decrease) gives a negative credit rounded the same way. An empty period gives 0.
    """
    start, end, when = _date(period_start), _date(period_end), _date(at)
    days_in_period = (end - start).days
    if days_in_period <= 0:
        return round_money(Decimal("0"))
    days_left = min(max((end - when).days, 0), days_in_period)
    return round_money(Decimal(amount) * days_left / days_in_period)


def _date(value: dt.datetime | dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.UTC) if value.tzinfo else value).date()
    return value
