"""Subscriptions as the graph shows them: ProductSubscription, its add-ons and its change history."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON

from gateway.batch import batch_field
from gateway.context import Context
from gateway.errors import UserError
from gateway.relay import Connection, Node, PageArgs, SortKey, encode_id, paginate_grouped
from gateway.request_cache import ByPrimaryKey, Slot
from schema.access import allowed_organizations
from schema.catalog.types import AddOn, Plan, Product, add_ons_by_pk, plans_by_pk, products_by_pk
from schema.common import AccessVia, required
from schema.identity.types import User, visible_users
from schema.models import Plan as PlanRow
from schema.models import ScheduledSubscriptionChange as ScheduledChangeRow
from schema.models import Subscription as SubscriptionRow
from schema.models import SubscriptionAddOn as SubscriptionAddOnRow
from schema.models import SubscriptionChange as SubscriptionChangeRow
from schema.organizations.types import Organization, organizations_by_pk, refusal

READ_ACTION = "organization.read_subscriptions"


@strawberry.enum
class SubscriptionStatus(enum.Enum):
    TRIAL = "TRIAL"
    ACTIVE = "ACTIVE"
    PAST_DUE = strawberry.enum_value("PAST_DUE", description="Renewed, but the renewal charge failed: retried on "
                                                            "the dunning schedule, suspended after the last retry.")
    SUSPENDED = "SUSPENDED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


@strawberry.enum
class SubscriptionChangeKind(enum.Enum):
    ADDED = "ADDED"
    PURCHASED = "PURCHASED"
    CHANGED = "CHANGED"
    SUSPENDED = "SUSPENDED"
    ENABLED = "ENABLED"
    AUTO_RENEW = "AUTO_RENEW"
    RENEWED = "RENEWED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    SCHEDULED_CHANGE = "SCHEDULED_CHANGE"
    SCHEDULED_CHANGE_CANCELLED = "SCHEDULED_CHANGE_CANCELLED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    PAYMENT_RECOVERED = "PAYMENT_RECOVERED"


@strawberry.type(description="An add-on code and a quantity (in the add-on's unit); 0 removes the add-on.")
class AddOnLine:
    code: str
    quantity: int


@strawberry.type(description="A change that takes effect at the next renewal (changeSubscription with "
                             "effective: AT_RENEWAL). Null fields keep what the subscription has then.")
class ScheduledChange:
    plan_code: str | None
    license_count: int | None
    storage_gb: int | None
    add_ons: list[AddOnLine] | None
    effective_at: dt.datetime = strawberry.field(description="The end of the current period: the renewal.")
    created_at: dt.datetime


@strawberry.type(description="An add-on on a subscription and its quantity (in the add-on's unit).")
class SubscriptionAddOn:
    quantity: int
    add_on_pk: strawberry.Private[int]

    @batch_field
    @staticmethod
    async def add_on(parents: list[SubscriptionAddOn], ctx: Context) -> list[AddOn | Exception]:
        return required(await add_ons_by_pk(ctx, [p.add_on_pk for p in parents]), "AddOn")


@strawberry.type(description="One change of a subscription: what it was, what it became, who did it and how.")
class SubscriptionChange(Node):
    id: strawberry.ID
    kind: SubscriptionChangeKind
    from_licenses: int | None
    to_licenses: int | None
    details: JSON
    at: dt.datetime
    via: AccessVia | None
    pk: strawberry.Private[int]
    from_plan_pk: strawberry.Private[int | None]
    to_plan_pk: strawberry.Private[int | None]
    actor_pk: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: SubscriptionChangeRow) -> SubscriptionChange:
        via = AccessVia(row.via) if row.via in AccessVia.__members__ else None
        return cls(
            id=strawberry.ID(encode_id("SubscriptionChange", row.id)), kind=SubscriptionChangeKind(row.kind),
            from_licenses=row.from_licenses, to_licenses=row.to_licenses, details=JSON(row.details or {}), at=row.at,
            via=via, pk=row.id, from_plan_pk=row.from_plan_id, to_plan_pk=row.to_plan_id, actor_pk=row.actor_user_id,
        )

    @batch_field
    @staticmethod
    async def from_plan(parents: list[SubscriptionChange], ctx: Context) -> list[Plan | None]:
        return await plans_by_pk(ctx, [p.from_plan_pk for p in parents])

    @batch_field
    @staticmethod
    async def to_plan(parents: list[SubscriptionChange], ctx: Context) -> list[Plan | None]:
        return await plans_by_pk(ctx, [p.to_plan_pk for p in parents])

    @batch_field(description="Who made the change: null for the system (e.g. renewals) and for people you may not see.")
    @staticmethod
    async def actor(parents: list[SubscriptionChange], ctx: Context) -> list[User | None]:
        return await visible_users(ctx, [p.actor_pk for p in parents], as_actors=True)


@strawberry.type(description="An organization's subscription to one product (not `Subscription`: GraphQL's root).")
class ProductSubscription(Node):
    id: strawberry.ID
    status: SubscriptionStatus
    license_count: int
    storage_gb: int
    auto_renew: bool
    current_period_start: dt.datetime
    current_period_end: dt.datetime
    trial_ends_at: dt.datetime | None
    created_at: dt.datetime
    suspended_reason: str | None = strawberry.field(
        description="Why the system suspended it: PAYMENT_FAILED (the last renewal charge retry failed).")
    pk: strawberry.Private[int]
    organization_pk: strawberry.Private[int]
    product_pk: strawberry.Private[int]
    plan_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: SubscriptionRow) -> ProductSubscription:
        return cls(
            id=strawberry.ID(encode_id("ProductSubscription", row.id)), status=SubscriptionStatus(row.status),
            license_count=row.license_count, storage_gb=row.storage_gb, auto_renew=row.auto_renew,
            current_period_start=row.current_period_start, current_period_end=row.current_period_end,
            trial_ends_at=row.trial_ends_at, created_at=row.created_at, suspended_reason=row.suspended_reason, pk=row.id,
            organization_pk=row.organization_id, product_pk=row.product_id, plan_pk=row.plan_id,
        )

    @batch_field
    @staticmethod
    async def organization(parents: list[ProductSubscription], ctx: Context) -> list[Organization | Exception]:
        return required(await organizations_by_pk(ctx, [p.organization_pk for p in parents]), "Organization")

    @batch_field
    @staticmethod
    async def product(parents: list[ProductSubscription], ctx: Context) -> list[Product | Exception]:
        return required(await products_by_pk(ctx, [p.product_pk for p in parents]), "Product")

    @batch_field
    @staticmethod
    async def plan(parents: list[ProductSubscription], ctx: Context) -> list[Plan | Exception]:
        return required(await plans_by_pk(ctx, [p.plan_pk for p in parents]), "Plan")

    @batch_field(description="The add-ons on this subscription.")
    @staticmethod
    async def add_ons(parents: list[ProductSubscription], ctx: Context) -> list[list[SubscriptionAddOn]]:
        by_sub = await subscription_add_ons(ctx, [p.pk for p in parents])
        return [[SubscriptionAddOn(quantity=row.quantity, add_on_pk=row.add_on_id) for row in by_sub.get(p.pk, [])]
                for p in parents]

    @batch_field(description="The change scheduled for the next renewal, if any.")
    @staticmethod
    async def scheduled_change(parents: list[ProductSubscription], ctx: Context) -> list[ScheduledChange | None]:
        rows = (await ctx.session.execute(
            select(ScheduledChangeRow, PlanRow.code, SubscriptionRow.current_period_end)
            .join(SubscriptionRow, SubscriptionRow.id == ScheduledChangeRow.subscription_id)
            .outerjoin(PlanRow, PlanRow.id == ScheduledChangeRow.plan_id)
            .where(ScheduledChangeRow.subscription_id.in_({p.pk for p in parents})))).all()
        found = {row.subscription_id: ScheduledChange(
            plan_code=plan_code, license_count=row.license_count, storage_gb=row.storage_gb,
            add_ons=[AddOnLine(code=c, quantity=q) for c, q in sorted((row.add_ons or {}).items())] or None,
            effective_at=period_end, created_at=row.created_at) for row, plan_code, period_end in rows}
        return [found.get(p.pk) for p in parents]

    @batch_field(description="The history of this subscription, newest first.")
    @staticmethod
    async def changes(parents: list[ProductSubscription], ctx: Context, first: int | None = None,
                      after: str | None = None) -> list[Connection[SubscriptionChange] | Exception]:
        allowed = await allowed_organizations(ctx, READ_ACTION, {p.organization_pk for p in parents})
        keys = [p.pk for p in parents if p.organization_pk in allowed]
        pages = await paginate_grouped(
            ctx, select(SubscriptionChangeRow).where(SubscriptionChangeRow.subscription_id.in_(keys)),
            entity=SubscriptionChangeRow, sort=[SortKey(SubscriptionChangeRow.id, descending=True)],
            page=PageArgs(first=first, after=after), to_node=SubscriptionChange.from_row,
            group_by=SubscriptionChangeRow.subscription_id, group_keys=keys,
        ) if keys else {}
        return [pages.get(p.pk) or refusal(ctx, READ_ACTION) for p in parents]


@strawberry.type
class SubscriptionPayload:
    subscription: ProductSubscription | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


ADD_ONS_OF_SUBSCRIPTION: Slot[dict[int, list[SubscriptionAddOnRow]]] = Slot("subscription_add_ons", dict)


async def subscription_add_ons(ctx: Context, subscription_pks: list[int]) -> dict[int, list[SubscriptionAddOnRow]]:
    """Add-on rows per subscription, per-request cached (one statement per batch)."""
    cache = ctx.cache.get(ADD_ONS_OF_SUBSCRIPTION)
    wanted = [pk for pk in dict.fromkeys(subscription_pks) if pk not in cache]
    if wanted:
        for pk in wanted:
            cache[pk] = []
        rows = (await ctx.session.scalars(
            select(SubscriptionAddOnRow).where(SubscriptionAddOnRow.subscription_id.in_(wanted))
            .order_by(SubscriptionAddOnRow.id))).all()
        for row in rows:
            cache[row.subscription_id].append(row)
    return cache


# ProductSubscription objects by primary key (per-request cache; no access check: callers decide).
subscriptions_by_pk = ByPrimaryKey("subscriptions", SubscriptionRow, ProductSubscription.from_row)


async def visible_subscriptions(ctx: Context, pks: list[int]) -> list[ProductSubscription | None]:
    """``node``: the subscription when the viewer may read its organization's subscriptions."""
    ctx.require_user()
    found = await subscriptions_by_pk(ctx, list(pks))
    allowed = await allowed_organizations(ctx, READ_ACTION, {s.organization_pk for s in found if s is not None})
    return [s if s is not None and s.organization_pk in allowed else None for s in found]



async def visible_subscription_changes(ctx: Context, pks: list[int]) -> list[SubscriptionChange | None]:
    """``node``: a change when the viewer may read its organization's subscriptions."""
    ctx.require_user()
    rows = (await ctx.session.execute(
        select(SubscriptionChangeRow, SubscriptionRow.organization_id)
        .join(SubscriptionRow, SubscriptionRow.id == SubscriptionChangeRow.subscription_id)
        .where(SubscriptionChangeRow.id.in_(pks)))).all()
    allowed = await allowed_organizations(ctx, READ_ACTION, {organization_id for _, organization_id in rows})
    found = {row.id: SubscriptionChange.from_row(row) for row, organization_id in rows if organization_id in allowed}
    return [found.get(pk) for pk in pks]
