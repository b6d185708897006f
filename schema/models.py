"""The core graph's tables: partners, organizations, memberships, mapping, access, catalog, subscriptions, billing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Connection,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    event,
    select,
)
from sqlalchemy.orm import Mapped, Mapper, mapped_column

from gateway import tracing
from gateway.db import Base, utcnow


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # DISTRIBUTOR RESELLER CONSULTING DEVELOPER
    status: Mapped[str] = mapped_column(String(20), default="ACTIVE")  # ACTIVE DISABLED
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PartnerMember(Base):
    __tablename__ = "partner_members"
    __table_args__ = (UniqueConstraint("partner_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(30))  # PARTNER_ADMIN PARTNER_ANALYST DEVELOPER
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (
        Index("ix_organizations_partner_name", "partner_id", "name", "id"),
        Index("ix_organizations_name", "name", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str] = mapped_column(String(253), unique=True)
    domain_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    domain_verification_code: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="TRIAL")  # TRIAL ACTIVE INACTIVE SUSPENDED
    address_line1: Mapped[str | None] = mapped_column(String(200))
    address_line2: Mapped[str | None] = mapped_column(String(200))
    address_line3: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    state: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2), index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)  # current mapping
    customer_partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))  # reseller managing the account
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class OrganizationMember(Base):
    __tablename__ = "organization_members"
    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))  # SUPER_ADMIN ADMIN MEMBER
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The partner whose admin added this member through delegated admin access: the membership
    # lasts only as long as that delegation (revoking it removes the membership).
    created_via_partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))


class PartnerMapping(Base):
    """History of which partner an organization was mapped to; the open row is the current one."""

    __tablename__ = "partner_mappings"
    __table_args__ = (Index("ix_partner_mappings_org", "organization_id", "mapped_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    mapped_by: Mapped[str] = mapped_column(String(20))  # CUSTOMER PARTNER
    mapped_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    unmapped_at: Mapped[dt.datetime | None]


class PartnerAccess(Base):
    """Delegated admin access of a partner to an organization (one row per organization and partner)."""

    __tablename__ = "partner_access"
    __table_args__ = (UniqueConstraint("organization_id", "partner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="ACTIVE")  # ACTIVE REVOKED
    granted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]
    revoked_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Plan(Base):
    __tablename__ = "plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    price_per_license: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    billing_period: Mapped[str] = mapped_column(String(10))  # MONTHLY YEARLY
    included_storage_gb: Mapped[int] = mapped_column(default=0)
    trial_days: Mapped[int] = mapped_column(default=0)
    rank: Mapped[int] = mapped_column(default=0)  # higher is an upgrade
    storage_price_per_gb: Mapped[Decimal] = mapped_column(default=Decimal("0"))


class AddOn(Base):
    __tablename__ = "add_ons"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    billing: Mapped[str] = mapped_column(String(10))  # PREPAID POSTPAID
    unit: Mapped[str] = mapped_column(String(40))


class CatalogPriceChange(Base):
    """The history of list prices: one row per changed price of a plan or an add-on, never rewritten."""

    __tablename__ = "catalog_price_changes"
    __table_args__ = (
        Index("ix_catalog_price_changes_plan", "plan_id", "id"),
        Index("ix_catalog_price_changes_add_on", "add_on_id", "id"),
        CheckConstraint("(plan_id IS NULL) <> (add_on_id IS NULL)", name="plan_or_add_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    add_on_id: Mapped[int | None] = mapped_column(ForeignKey("add_ons.id"))
    field: Mapped[str] = mapped_column(String(30))  # PRICE_PER_LICENSE STORAGE_PRICE_PER_GB UNIT_PRICE
    previous_amount: Mapped[Decimal]
    new_amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    effective_at: Mapped[dt.datetime]
    changed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_org", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("plans.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # TRIAL ACTIVE SUSPENDED CANCELLED EXPIRED
    license_count: Mapped[int]
    storage_gb: Mapped[int] = mapped_column(default=0)
    auto_renew: Mapped[bool] = mapped_column(Boolean, default=True)
    current_period_start: Mapped[dt.datetime]
    current_period_end: Mapped[dt.datetime]
    trial_ends_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    version: Mapped[int] = mapped_column(default=1)
    # The unit prices the current period is charged at (locked when the period is charged: a later list
    # price change applies from the next period). Left unset, an ORM insert takes the plan's list prices.
    # Nullable in the database only: SQLite cannot make an added column NOT NULL without recreating the
    # table, and dropping `subscriptions` would cascade into its add-ons, changes and invoice lines.
    period_price_per_license: Mapped[Decimal | None]
    period_storage_price_per_gb: Mapped[Decimal | None]
    # Why it is SUSPENDED when the system suspended it (PAYMENT_FAILED: the last dunning retry failed).
    suspended_reason: Mapped[str | None] = mapped_column(String(40))


class SubscriptionAddOn(Base):
    __tablename__ = "subscription_add_ons"
    __table_args__ = (UniqueConstraint("subscription_id", "add_on_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True)
    add_on_id: Mapped[int] = mapped_column(ForeignKey("add_ons.id"))
    quantity: Mapped[int]
    # The unit price the subscription's current period is charged at (see Subscription.period_price_per_license).
    period_unit_price: Mapped[Decimal | None]


class SubscriptionChange(Base):
    __tablename__ = "subscription_changes"
    __table_args__ = (Index("ix_subscription_changes_sub", "subscription_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))  # ADDED PURCHASED CHANGED SUSPENDED ENABLED AUTO_RENEW RENEWED EXPIRED
    from_plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    to_plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    from_licenses: Mapped[int | None]
    to_licenses: Mapped[int | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    via: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PaymentMethod(Base):
    """A card on file: a processor token and display details only; never a card number or CVV."""

    __tablename__ = "payment_methods"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), unique=True)
    owner: Mapped[str] = mapped_column(String(20))  # RESELLER_CARD CUSTOMER_CARD
    processor_token: Mapped[str] = mapped_column(String(200))
    brand: Mapped[str] = mapped_column(String(30))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int]
    exp_year: Mapped[int]
    holder_name: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_org", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    card_owner: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(String(500))
    processor_reference: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class InvoiceLine(Base):
    """A pending line of an organization's next invoice (pro-rations, renewals, usage)."""

    __tablename__ = "invoice_lines"
    __table_args__ = (Index("ix_invoice_lines_org", "organization_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    description: Mapped[str] = mapped_column(String(500))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    prorated: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(40), default="core")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    invoiced_at: Mapped[dt.datetime | None]


class ScheduledSubscriptionChange(Base):
    """A change that takes effect at the subscription's next renewal (``changeSubscription(effective: AT_RENEWAL)``).

    At most one per subscription; null fields keep what the subscription has then. ``add_ons``:
    ``{add-on code: quantity}`` set at renewal (0 removes one), the others kept."""

    __tablename__ = "scheduled_subscription_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"), unique=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    license_count: Mapped[int | None]
    storage_gb: Mapped[int | None]
    add_ons: Mapped[dict[str, int] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class RenewalCharge(Base):
    """The charge of one renewed period of one subscription: the ledger that makes renewals charge once.

    Unique per (subscription, period start): a crashed and retried renewal finds the row (or its
    rollback left none, and the processor's idempotency key ``renewal:<subscription>:<anchor>:<attempt>``
    gives back the charge it already made: the anchor is the end of the period being closed for the
    first attempt, which only the renewal's commit changes, and this row's period start for retries;
    see ``schema.subscriptions.dunning``). ``status``: PENDING (dunning: ``next_attempt_at``), PAID, FAILED
    (the last retry failed; the subscription was suspended)."""

    __tablename__ = "renewal_charges"
    __table_args__ = (
        UniqueConstraint("subscription_id", "period_start"),
        Index("ix_renewal_charges_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    period_start: Mapped[dt.datetime]
    period_end: Mapped[dt.datetime]
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20))  # PENDING PAID FAILED
    attempts: Mapped[int] = mapped_column(default=0)
    first_failed_at: Mapped[dt.datetime | None]
    next_attempt_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[dt.datetime | None]


class LargeDeal(Base):
    __tablename__ = "large_deals"
    __table_args__ = (Index("ix_large_deals_partner", "partner_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    product_code: Mapped[str] = mapped_column(String(40))
    estimated_licenses: Mapped[int]
    estimated_value: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    expected_close_date: Mapped[dt.date] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="SUBMITTED")
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submitted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class AuditEvent(Base):
    """The audit log: who did what, through which grant (``via``), on which organization, through which partner."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_org_id", "organization_id", "id"),
        Index("ix_audit_events_partner_id", "partner_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    via: Mapped[str] = mapped_column(String(40))
    partner_id: Mapped[int | None]
    organization_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(100), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EventRecord(Base):
    """A stored domain event (``gateway.events.DomainEvent``), the API's ``Event``: written by the events part
    in the transaction of the change. ``partner_id`` is the partner the event concerns (the organization's
    mapped partner when it happened, or the partner of a partner event); both null: a platform-level event."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_org_id", "organization_id", "id"),
        Index("ix_events_partner_id", "partner_id", "id"),
        Index("ix_events_type_occurred_at", "type", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # An organization's events are its data (as its subscriptions and payments): they go with it. A partner
    # that goes leaves the organizations' history in place, no longer attributed to it.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id", ondelete="SET NULL"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    # the W3C traceparent of the span that stored it (gateway/tracing.py; null when tracing is off): its
    # webhook deliveries continue that trace
    trace_context: Mapped[str | None] = mapped_column(String(64), default=tracing.current_traceparent)


class WebhookEndpoint(Base):
    """A partner's URL that receives its events, signed per Standard Webhooks (schema/webhooks).

    ``secret`` (``whsec_...``) signs every delivery; it is shown once (create, rotate), never read back.
    ``previous_secret`` keeps signing too, beside the new one, until ``previous_secret_expires_at``."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_partner_id", "partner_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)  # event type names, or ["*"]: every type
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    secret: Mapped[str] = mapped_column(String(200))
    previous_secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret_expires_at: Mapped[dt.datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(default=0)  # deliveries in a row that ended FAILED
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event to one endpoint: the durable intent written with the event, swept by job ``webhooks.deliver``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
        CheckConstraint("status IN ('PENDING', 'SUCCEEDED', 'FAILED')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="PENDING")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    last_attempt_at: Mapped[dt.datetime | None]
    response_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# ---------------------------------------------------------------- period prices and price history
@event.listens_for(Subscription, "before_insert")
def _lock_subscription_prices(mapper: Mapper[Subscription], connection: Connection, target: Subscription) -> None:
    """A subscription inserted without its period prices (demo seeds, plugins, tests) starts its first
    period at the plan's list prices in force now, which is what the catalog charges a period starting now."""
    if target.period_price_per_license is None or target.period_storage_price_per_gb is None:
        per_license, per_gb = connection.execute(
            select(Plan.price_per_license, Plan.storage_price_per_gb).where(Plan.id == target.plan_id)).one()
        if target.period_price_per_license is None:
            target.period_price_per_license = per_license
        if target.period_storage_price_per_gb is None:
            target.period_storage_price_per_gb = per_gb


@event.listens_for(SubscriptionAddOn, "before_insert")
def _lock_add_on_price(mapper: Mapper[SubscriptionAddOn], connection: Connection, target: SubscriptionAddOn) -> None:
    """As ``_lock_subscription_prices``: an add-on inserted without its period price takes its list price."""
    if target.period_unit_price is None:
        target.period_unit_price = connection.execute(
            select(AddOn.unit_price).where(AddOn.id == target.add_on_id)).scalar_one()


@event.listens_for(CatalogPriceChange, "before_update")
@event.listens_for(CatalogPriceChange, "before_delete")
def _price_history_is_append_only(mapper: Mapper[CatalogPriceChange], connection: Connection,
                                  target: CatalogPriceChange) -> None:
    raise RuntimeError("the price history is append-only: a price change is recorded, never rewritten or deleted")
