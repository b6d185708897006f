"""The hooks the subscriptions part declares (added by its ``gateway_add_hookspecs``) and calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING

from gateway.hookspecs import hookspec

if TYPE_CHECKING:
    from gateway.context import Context
    from schema.catalog.pricing import Charge
    from schema.models import Subscription

RenewalCharges = Sequence["Charge"] | None


@hookspec
def gateway_subscription_renewal(ctx: Context, subscription: Subscription, period_start: dt.datetime,
                                 period_end: dt.datetime) -> RenewalCharges | Awaitable[RenewalCharges]:
    """A subscription starts its new period ``period_start``..``period_end`` at renewal (row locked, its
    scheduled change applied, the period's prices locked), in the renewal's transaction.

    A plugin whose product it is rolls its own state for the new period (e.g. renewal inventory becomes
    current) and returns the charges that period adds to the core's (``schema.catalog.pricing.Charge``:
    plan × licenses, storage, PREPAID add-ons); None or ``[]`` for another product's subscription. The
    renewal charges the sum once on the card on file (idempotently per subscription and period).
    """
