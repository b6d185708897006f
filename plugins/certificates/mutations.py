"""Certificate mutations: thin resolvers that authorize, claim idempotency keys and call the service."""

from __future__ import annotations

import datetime as dt

import strawberry
from sqlalchemy import select

from gateway.composition import Mutation, extends
from gateway.context import Context, run_mutation
from gateway.db import utcnow
from gateway.errors import NotFound, UserError
from gateway.events import emit
from gateway.policy import Decision
from gateway.relay import decode_pk
from plugins.certificates import service
from plugins.certificates.actions import ADD_INVENTORY, ADD_SUBSCRIPTIONS, RENEW_SUBSCRIPTIONS, USE_INVENTORY
from plugins.certificates.types import CertificateInventoryLine, InventoryKind
from schema.access import authorize_organization, authorize_platform, record_audit
from schema.models import Subscription as SubscriptionRow
from schema.models import SubscriptionChange as SubscriptionChangeRow
from schema.subscriptions.events import subscription_event
from schema.subscriptions.renewals import renew_due
from schema.subscriptions.service import ensure_subscription_authority, load_subscription_for_update
from schema.subscriptions.types import ProductSubscription


@strawberry.input(description="A certificate type and a quantity (negative reduces, for inventory changes).")
class CertificateItemInput:
    certificate_type_code: str
    quantity: int


@strawberry.input(description="One certificate subscription: its inventory per type and whether it renews.")
class CertificateSubscriptionInput:
    items: list[CertificateItemInput]
    auto_renew: bool = True


@strawberry.input
class AddCertificateSubscriptionsInput:
    organization_id: strawberry.ID
    subscriptions: list[CertificateSubscriptionInput]
    idempotency_key: str = strawberry.field(description="The same key twice adds (and bills) once.")


@strawberry.type
class AddCertificateSubscriptionsPayload:
    subscriptions: list[ProductSubscription] = strawberry.field(default_factory=list)
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class AddCertificateInventoryInput:
    subscription_id: strawberry.ID
    kind: InventoryKind
    items: list[CertificateItemInput]
    idempotency_key: str | None = strawberry.field(
        default=None, description="Optional: the same key twice changes (and bills) once.")


@strawberry.type
class AddCertificateInventoryPayload:
    subscription: ProductSubscription | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class UseCertificateInventoryInput:
    subscription_id: strawberry.ID
    certificate_type_code: str


@strawberry.type
class UseCertificateInventoryPayload:
    subscription: ProductSubscription | None = None
    inventory_line: CertificateInventoryLine | None = strawberry.field(
        default=None, description="The line of the certificate type used, after the use.")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RenewSubscriptionsInput:
    as_of: dt.datetime | None = strawberry.field(
        default=None, description="Renew or expire the periods that ended by this moment; default now.")


@strawberry.type
class RenewSubscriptionsPayload:
    renewed: list[ProductSubscription] = strawberry.field(
        default_factory=list, description="Renewed and charged (or paid on a dunning retry).")
    expired: list[ProductSubscription] = strawberry.field(default_factory=list)
    past_due: list[ProductSubscription] = strawberry.field(
        default_factory=list, description="Renewed, but the charge failed: retried on the dunning schedule.")
    suspended: list[ProductSubscription] = strawberry.field(
        default_factory=list, description="The last dunning retry failed.")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _items(items: list[CertificateItemInput]) -> list[service.Item]:
    return [service.Item(item.certificate_type_code, item.quantity) for item in items]


def _changed(ctx: Context) -> service.OnChange:
    async def fire(subscription: SubscriptionRow, change: SubscriptionChangeRow) -> None:
        await emit(ctx, subscription_event(subscription, change))

    return fire


async def _authorize_subscription(ctx: Context, action: str, subscription_pk: int) -> tuple[int, Decision]:
    ctx.require_user()
    organization_pk = await ctx.session.scalar(
        select(SubscriptionRow.organization_id).where(SubscriptionRow.id == subscription_pk))
    if organization_pk is None:
        raise NotFound("No subscription has that ID.")
    return organization_pk, await authorize_organization(ctx, action, organization_pk)


async def _subscriptions(ctx: Context, pks: list[int]) -> list[ProductSubscription]:
    rows = (await ctx.session.scalars(select(SubscriptionRow).where(SubscriptionRow.id.in_(pks))
                                      .order_by(SubscriptionRow.id))).all() if pks else []
    return [ProductSubscription.from_row(row) for row in rows]


@extends(Mutation)
class CertificateMutations:
    @strawberry.mutation(description="Add one or more certificate subscriptions for a customer, in one transaction.")
    async def add_certificate_subscriptions(self, info: strawberry.Info[Context, None],
                                            input: AddCertificateSubscriptionsInput) -> AddCertificateSubscriptionsPayload:
        ctx: Context = info.context
        organization_pk = decode_pk(input.organization_id, "Organization")
        specs = [service.SubscriptionSpec(_items(s.items), s.auto_renew) for s in input.subscriptions]

        async def body() -> AddCertificateSubscriptionsPayload:
            decision = await authorize_organization(ctx, ADD_SUBSCRIPTIONS, organization_pk)
            await ensure_subscription_authority(ctx, decision, organization_pk)
            request = {"organizationId": organization_pk, "subscriptions": [
                {"items": [[i.code, i.quantity] for i in spec.items], "autoRenew": spec.auto_renew} for spec in specs]}
            claim = await ctx.claim_idempotency_key(f"certificates.add_subscriptions:{organization_pk}",
                                                    input.idempotency_key, request)
            if isinstance(claim, dict):
                return AddCertificateSubscriptionsPayload(subscriptions=await _subscriptions(ctx, claim["subscriptionIds"]))
            created = await service.create_subscriptions(
                ctx.session, organization_id=organization_pk, specs=specs, now=utcnow(),
                actor_user_id=ctx.viewer.user_id, via=decision.via, on_change=_changed(ctx))
            ids = [s.id for s in created]
            claim.result = {"subscriptionIds": ids}
            record_audit(ctx, ADD_SUBSCRIPTIONS, via=decision.via, organization_id=organization_pk,
                      partner_id=decision.grant.through, details={"subscriptionIds": ids, **request})
            return AddCertificateSubscriptionsPayload(subscriptions=[ProductSubscription.from_row(s) for s in created])

        return await run_mutation(ctx, AddCertificateSubscriptionsPayload, body)

    @strawberry.mutation(description="Add (or, with negative quantities, remove) CURRENT or RENEWAL inventory. "
                                     "CURRENT is usable at once and adds a pro-rated line to the next invoice.")
    async def add_certificate_inventory(self, info: strawberry.Info[Context, None],
                                        input: AddCertificateInventoryInput) -> AddCertificateInventoryPayload:
        ctx: Context = info.context
        subscription_pk = decode_pk(input.subscription_id, "ProductSubscription")
        items = _items(input.items)

        async def body() -> AddCertificateInventoryPayload:
            organization_pk, decision = await _authorize_subscription(ctx, ADD_INVENTORY, subscription_pk)
            await ensure_subscription_authority(ctx, decision, organization_pk)
            request = {"subscriptionId": subscription_pk, "kind": input.kind.value,
                       "items": [[i.code, i.quantity] for i in items]}
            if input.idempotency_key is not None:
                claim = await ctx.claim_idempotency_key(f"certificates.add_inventory:{subscription_pk}",
                                                        input.idempotency_key, request)
                if isinstance(claim, dict):
                    return AddCertificateInventoryPayload(subscription=(await _subscriptions(ctx, [subscription_pk]))[0])
                claim.result = {"subscriptionId": subscription_pk}
            subscription = await load_subscription_for_update(ctx.session, subscription_pk)
            lines = await service.add_inventory(
                ctx.session, subscription=subscription, kind=input.kind.value, items=items, now=utcnow(),
                actor_user_id=ctx.viewer.user_id, via=decision.via, on_change=_changed(ctx))
            record_audit(ctx, ADD_INVENTORY, via=decision.via, organization_id=organization_pk,
                      partner_id=decision.grant.through,
                      details={**request, "invoiceLines": [[line.description, str(line.amount), line.currency]
                                                           for line in lines]})
            return AddCertificateInventoryPayload(subscription=ProductSubscription.from_row(subscription))

        return await run_mutation(ctx, AddCertificateInventoryPayload, body)

    @strawberry.mutation(description="Issue one certificate: consumes one unit of the subscription's current inventory.")
    async def use_certificate_inventory(self, info: strawberry.Info[Context, None],
                                        input: UseCertificateInventoryInput) -> UseCertificateInventoryPayload:
        ctx: Context = info.context
        subscription_pk = decode_pk(input.subscription_id, "ProductSubscription")

        async def body() -> UseCertificateInventoryPayload:
            organization_pk, decision = await _authorize_subscription(ctx, USE_INVENTORY, subscription_pk)
            row = await service.use_inventory(ctx.session, subscription_id=subscription_pk,
                                              certificate_type_code=input.certificate_type_code, now=utcnow())
            record_audit(ctx, USE_INVENTORY, via=decision.via, organization_id=organization_pk,
                      partner_id=decision.grant.through,
                      details={"subscriptionId": subscription_pk, "certificateTypeCode": input.certificate_type_code,
                               "used": row.used, "current": row.current})
            return UseCertificateInventoryPayload(subscription=(await _subscriptions(ctx, [subscription_pk]))[0],
                                                  inventory_line=CertificateInventoryLine.from_row(row))

        return await run_mutation(ctx, UseCertificateInventoryPayload, body)

    @strawberry.mutation(description="Platform admins: what the daily job subscriptions.renew does, now: renew "
                                     "(and charge), expire and dun every subscription, of every product, due by "
                                     "asOf. Running it again for the same moment changes nothing.")
    async def renew_subscriptions(self, info: strawberry.Info[Context, None],
                                  input: RenewSubscriptionsInput | None = None) -> RenewSubscriptionsPayload:
        ctx: Context = info.context
        as_of = (input.as_of if input is not None else None) or utcnow()
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=dt.UTC)

        async def body() -> RenewSubscriptionsPayload:
            decision = authorize_platform(ctx, RENEW_SUBSCRIPTIONS)
            # The core's renewal sweep, for every product: one transaction per subscription, its own sessions.
            run = await renew_due(ctx.runtime, as_of, viewer=ctx.viewer, via=decision.via)
            outcomes = (("renewed", run.renewed + run.recovered), ("past_due", run.past_due),
                        ("suspended", run.suspended), ("expired", run.expired))
            rows = {row.id: row for row in (await ctx.session.scalars(select(SubscriptionRow).where(
                SubscriptionRow.id.in_([pk for _, pks in outcomes for pk in pks])))).all()}
            for kind, pks in outcomes:
                for pk in pks:
                    row = rows[pk]
                    record_audit(ctx, f"subscription.{kind}", via=decision.via, organization_id=row.organization_id,
                                 details={"subscriptionId": row.id, "asOf": as_of.isoformat(),
                                          "periodEnd": row.current_period_end.isoformat()})
            record_audit(ctx, RENEW_SUBSCRIPTIONS, via=decision.via, details={
                "asOf": as_of.isoformat(), **{kind: pks for kind, pks in outcomes}, "errors": run.errors})

            def nodes(pks: list[int]) -> list[ProductSubscription]:
                return [ProductSubscription.from_row(rows[pk]) for pk in sorted(pks)]

            errors = [UserError(code="RENEWAL_INCOMPLETE", field=None, message=(
                f"{len(run.errors)} subscription(s) failed and were rolled back; run again (the job retries them)."))
            ] if run.errors else []
            return RenewSubscriptionsPayload(renewed=nodes(run.renewed + run.recovered), expired=nodes(run.expired),
                                             past_due=nodes(run.past_due), suspended=nodes(run.suspended),
                                             user_errors=errors)

        return await run_mutation(ctx, RenewSubscriptionsPayload, body)
