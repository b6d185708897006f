"""Subscription mutations: thin resolvers that authorize, claim the idempotency key and call the service."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry

from gateway.composition import Mutation, extends
from gateway.context import Context, run_mutation
from gateway.errors import DomainError
from gateway.policy import Decision
from gateway.relay import decode_pk
from schema.access import authorize_organization
from schema.models import Subscription as SubscriptionRow
from schema.subscriptions import scheduled, service
from schema.subscriptions.types import ProductSubscription, SubscriptionPayload


@strawberry.input(description="An add-on and its quantity in the add-on's unit.")
class SubscriptionAddOnInput:
    code: str
    quantity: int


@strawberry.input
class AddSubscriptionInput:
    organization_id: strawberry.ID
    plan_code: str
    license_count: int
    idempotency_key: str = strawberry.field(description="The same key twice adds (and charges) once.")
    storage_gb: int | None = strawberry.field(default=None, description="Total storage; default: the plan's included GB.")
    auto_renew: bool = True
    add_ons: list[SubscriptionAddOnInput] = strawberry.field(default_factory=list)
    trial: bool = strawberry.field(default=False, description="Start a free trial of the plan's trial days.")


@strawberry.input
class PurchaseSubscriptionInput:
    subscription_id: strawberry.ID
    idempotency_key: str = strawberry.field(description="The same key twice charges once.")


@strawberry.enum(description="When a change takes effect.")
class SubscriptionChangeEffective(enum.Enum):
    IMMEDIATELY = strawberry.enum_value("IMMEDIATELY", description="Now, pro-rated on the upcoming invoice.")
    AT_RENEWAL = strawberry.enum_value("AT_RENEWAL", description="At the next renewal (the end of the current "
                                       "period): stored as the subscription's scheduledChange, nothing charged now.")


@strawberry.input
class ChangeSubscriptionInput:
    subscription_id: strawberry.ID
    idempotency_key: str = strawberry.field(description="The same key twice changes (and bills) once.")
    plan_code: str | None = strawberry.field(default=None, description="Another plan of the same product.")
    license_count: int | None = None
    storage_gb: int | None = None
    add_ons: list[SubscriptionAddOnInput] | None = strawberry.field(
        default=None, description="Each listed add-on is set to its quantity (0 removes it); others stay.")
    effective: SubscriptionChangeEffective = strawberry.field(
        default=SubscriptionChangeEffective.IMMEDIATELY,
        description="AT_RENEWAL schedules the change for the next renewal (it adds to a change already scheduled).")


@strawberry.input
class SetAutoRenewInput:
    subscription_id: strawberry.ID
    auto_renew: bool


@strawberry.input
class SubscriptionInput:
    subscription_id: strawberry.ID


def _add_ons(items: list[SubscriptionAddOnInput] | None) -> list[service.AddOnRequest] | None:
    return None if items is None else [service.AddOnRequest(i.code, i.quantity) for i in items]


def _payload(row: SubscriptionRow) -> SubscriptionPayload:
    return SubscriptionPayload(subscription=ProductSubscription.from_row(row))


async def _idempotent(ctx: Context, scope: str, key: str, request: dict[str, Any],
                      apply: Callable[[], Awaitable[SubscriptionRow]]) -> SubscriptionPayload:
    """Apply once per key; a repeated key returns the subscription it produced without applying again."""
    claim = await ctx.claim_idempotency_key(scope, key, request)
    if isinstance(claim, dict):
        replayed: SubscriptionRow | None = await ctx.session.get(
            SubscriptionRow, claim["subscription_id"], populate_existing=True)
        if replayed is None:  # subscriptions are cancelled, never deleted: only a broken database gets here
            raise DomainError("NOT_FOUND", "The subscription this idempotency key created no longer exists.")
        return _payload(replayed)
    row = await apply()
    claim.result = {"subscription_id": row.id}
    return _payload(row)


async def _on_subscription(info: strawberry.Info[Context, None], subscription_id: strawberry.ID, action: str,
                           apply: Callable[[Context, Decision, int], Awaitable[SubscriptionPayload]]) -> SubscriptionPayload:
    ctx: Context = info.context
    pk = decode_pk(subscription_id, "ProductSubscription")

    async def body() -> SubscriptionPayload:
        organization_id = await service.subscription_organization(ctx.session, pk)
        decision = await authorize_organization(ctx, action, organization_id)
        return await apply(ctx, decision, pk)

    return await run_mutation(ctx, SubscriptionPayload, body)


@extends(Mutation)
class SubscriptionMutations:
    @strawberry.mutation(description="Add a trial or paid subscription; a paid one charges its first period.")
    async def add_subscription(self, info: strawberry.Info[Context, None], input: AddSubscriptionInput) -> SubscriptionPayload:
        ctx: Context = info.context
        organization_id = decode_pk(input.organization_id, "Organization")

        async def body() -> SubscriptionPayload:
            decision = await authorize_organization(ctx, "subscription.add", organization_id)
            request = {"planCode": input.plan_code, "licenseCount": input.license_count, "storageGb": input.storage_gb,
                       "autoRenew": input.auto_renew, "trial": input.trial,
                       "addOns": [[a.code, a.quantity] for a in input.add_ons]}
            return await _idempotent(ctx, f"subscription.add:{organization_id}", input.idempotency_key, request,
                                     lambda: service.add_subscription(
                                         ctx, decision, organization_id, plan_code=input.plan_code,
                                         license_count=input.license_count, storage_gb=input.storage_gb,
                                         auto_renew=input.auto_renew, add_ons=_add_ons(input.add_ons),
                                         trial=input.trial))

        return await run_mutation(ctx, SubscriptionPayload, body)

    @strawberry.mutation(description="Turn a trial into a paid subscription; charges the first paid period.")
    async def purchase_subscription(self, info: strawberry.Info[Context, None], input: PurchaseSubscriptionInput) -> SubscriptionPayload:
        async def apply(ctx: Context, decision: Decision, pk: int) -> SubscriptionPayload:
            return await _idempotent(ctx, f"subscription.purchase:{pk}", input.idempotency_key, {},
                                     lambda: service.purchase_subscription(ctx, decision, pk))

        return await _on_subscription(info, input.subscription_id, "subscription.purchase", apply)

    @strawberry.mutation(description="Change the plan (same product), licenses, storage or add-ons; mid-period "
                                     "increases and decreases add pro-rated lines to the upcoming invoice.")
    async def change_subscription(self, info: strawberry.Info[Context, None], input: ChangeSubscriptionInput) -> SubscriptionPayload:
        async def apply(ctx: Context, decision: Decision, pk: int) -> SubscriptionPayload:
            request = {"planCode": input.plan_code, "licenseCount": input.license_count, "storageGb": input.storage_gb,
                       "addOns": None if input.add_ons is None else [[a.code, a.quantity] for a in input.add_ons]}
            if input.effective is SubscriptionChangeEffective.AT_RENEWAL:
                request["effective"] = input.effective.value  # keeps the first wave's fingerprints as they were
                return await _idempotent(ctx, f"subscription.change:{pk}", input.idempotency_key, request,
                                         lambda: scheduled.schedule_change(
                                             ctx, decision, pk, plan_code=input.plan_code,
                                             license_count=input.license_count, storage_gb=input.storage_gb,
                                             add_ons=_add_ons(input.add_ons)))
            return await _idempotent(ctx, f"subscription.change:{pk}", input.idempotency_key, request,
                                     lambda: service.change_subscription(
                                         ctx, decision, pk, plan_code=input.plan_code, license_count=input.license_count,
                                         storage_gb=input.storage_gb, add_ons=_add_ons(input.add_ons)))

        return await _on_subscription(info, input.subscription_id, "subscription.change", apply)

    @strawberry.mutation(description="Drop the change scheduled for the next renewal (changeSubscription with "
                                     "effective: AT_RENEWAL). Allowed to those who may change the subscription.")
    async def cancel_scheduled_change(self, info: strawberry.Info[Context, None],
                                      input: SubscriptionInput) -> SubscriptionPayload:
        async def apply(ctx: Context, decision: Decision, pk: int) -> SubscriptionPayload:
            return _payload(await scheduled.cancel_scheduled_change(ctx, decision, pk))

        return await _on_subscription(info, input.subscription_id, "subscription.change", apply)

    @strawberry.mutation(description="Turn auto-renewal on or off.")
    async def set_auto_renew(self, info: strawberry.Info[Context, None], input: SetAutoRenewInput) -> SubscriptionPayload:
        async def apply(ctx: Context, decision: Decision, pk: int) -> SubscriptionPayload:
            return _payload(await service.set_auto_renew(ctx, decision, pk, input.auto_renew))

        return await _on_subscription(info, input.subscription_id, "subscription.set_auto_renew", apply)

    @strawberry.mutation(description="Suspend an active or trial subscription.")
    async def suspend_subscription(self, info: strawberry.Info[Context, None], input: SubscriptionInput) -> SubscriptionPayload:
        async def apply(ctx: Context, decision: Decision, pk: int) -> SubscriptionPayload:
            return _payload(await service.suspend_subscription(ctx, decision, pk))

        return await _on_subscription(info, input.subscription_id, "subscription.suspend", apply)

    @strawberry.mutation(description="Enable a suspended subscription again (a cancelled one cannot be).")
    async def enable_subscription(self, info: strawberry.Info[Context, None], input: SubscriptionInput) -> SubscriptionPayload:
        async def apply(ctx: Context, decision: Decision, pk: int) -> SubscriptionPayload:
            return _payload(await service.enable_subscription(ctx, decision, pk))

        return await _on_subscription(info, input.subscription_id, "subscription.enable", apply)
