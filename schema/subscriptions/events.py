"""The subscriptions part's domain events (see gateway/events.py), emitted in the transaction of the change."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from gateway.events import DomainEvent
from schema.models import Subscription, SubscriptionChange


@dataclass(frozen=True, kw_only=True)
class SubscriptionEvent(DomainEvent):
    """What every subscription event carries: the subscription after the change and the change row."""

    subscription_id: int
    organization_id: int
    product_id: int
    plan_id: int
    status: str  # TRIAL ACTIVE PAST_DUE SUSPENDED CANCELLED EXPIRED
    license_count: int
    change_id: int
    change_kind: str  # ADDED PURCHASED CHANGED SUSPENDED ENABLED AUTO_RENEW RENEWED EXPIRED SCHEDULED_CHANGE
    #                   SCHEDULED_CHANGE_CANCELLED PAYMENT_FAILED PAYMENT_RECOVERED
    from_plan_id: int | None = None
    from_licenses: int | None = None


@dataclass(frozen=True, kw_only=True)
class SubscriptionCreated(SubscriptionEvent):
    type = "subscription.created"


@dataclass(frozen=True, kw_only=True)
class SubscriptionChanged(SubscriptionEvent):
    """Purchased, changed (plan, licenses, storage, add-ons), suspended, enabled or auto-renew set."""

    type = "subscription.changed"


@dataclass(frozen=True, kw_only=True)
class SubscriptionRenewed(SubscriptionEvent):
    type = "subscription.renewed"


@dataclass(frozen=True, kw_only=True)
class SubscriptionExpired(SubscriptionEvent):
    type = "subscription.expired"


@dataclass(frozen=True, kw_only=True)
class SubscriptionPaymentFailed(SubscriptionEvent):
    """A renewal charge failed (``attempt`` 1 at the renewal, then each dunning retry). ``next_attempt_at``:
    when it is tried again; None when that was the last retry and the subscription is now SUSPENDED."""

    type = "subscription.payment_failed"
    read_action = "organization.read_billing"  # the amount and the processor's refusal: payment details
    amount: Decimal
    currency: str
    attempt: int
    error_code: str
    period_start: dt.datetime
    next_attempt_at: dt.datetime | None = None


@dataclass(frozen=True, kw_only=True)
class SubscriptionRenewalDue(DomainEvent):
    """A subscription's period ended by ``as_of`` and it is up for renewal (before it is renewed or expired)."""

    type = "subscription.renewal_due"
    subscription_id: int
    organization_id: int
    product_id: int
    period_end: dt.datetime
    as_of: dt.datetime


_BY_KIND: dict[str, type[SubscriptionEvent]] = {
    "ADDED": SubscriptionCreated, "RENEWED": SubscriptionRenewed, "EXPIRED": SubscriptionExpired,
}


def subscription_event(subscription: Subscription, change: SubscriptionChange) -> SubscriptionEvent:
    """The event of ``change`` (just flushed) to ``subscription``: created, renewed, expired or changed."""
    event_class = _BY_KIND.get(change.kind, SubscriptionChanged)
    return event_class(
        subscription_id=subscription.id, organization_id=subscription.organization_id,
        product_id=subscription.product_id, plan_id=subscription.plan_id, status=subscription.status,
        license_count=subscription.license_count, change_id=change.id, change_kind=change.kind,
        from_plan_id=change.from_plan_id, from_licenses=change.from_licenses, occurred_at=change.at,
    )


def renewal_due(subscription: Subscription, as_of: dt.datetime) -> SubscriptionRenewalDue:
    return SubscriptionRenewalDue(subscription_id=subscription.id, organization_id=subscription.organization_id,
                                  product_id=subscription.product_id, period_end=subscription.current_period_end,
                                  as_of=as_of)
