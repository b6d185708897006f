"""Mutations: buy credits, record messages, charge post-paid add-on usage. Thin: authorize, call the service."""

from __future__ import annotations

import strawberry

from gateway.composition import Mutation, extends
from gateway.context import Context, run_mutation
from gateway.errors import NotFound, UserError
from gateway.relay import decode_pk
from plugins.desk_im import service
from plugins.desk_im.actions import PURCHASE, READ_AMOUNTS, RECORD_ADD_ON_USAGE, RECORD_MESSAGES
from plugins.desk_im.settings import desk_im_settings
from plugins.desk_im.types import ImChannel, ImCreditAccount, ImCreditTransaction
from schema.access import allowed_organizations, audit, authorize_organization
from schema.billing.types import Payment
from schema.models import Subscription as SubscriptionRow
from schema.subscriptions.service import ensure_subscription_authority


@strawberry.input
class PurchaseImCreditsInput:
    organization_id: strawberry.ID
    credits: int = strawberry.field(description="How many credits to buy (at most GATEWAY_DESK_IM_MAX_PURCHASE).")
    idempotency_key: str = strawberry.field(description="The same key again charges once and returns the first result.")


@strawberry.input
class RecordImMessagesInput:
    organization_id: strawberry.ID
    channel: ImChannel
    count: int = strawberry.field(description="Messages sent; each consumes one credit on a charged channel.")
    idempotency_key: str = strawberry.field(description="The same key again never consumes twice.")


@strawberry.input
class RecordAddOnUsageInput:
    subscription_id: strawberry.ID
    add_on_code: str = strawberry.field(description="A POSTPAID add-on of the subscription's product, e.g. DESK_SMS.")
    quantity: int = strawberry.field(description="Units used, in the add-on's unit.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Recommended: the same key again charges once and returns the first payment.")


@strawberry.type
class PurchaseImCreditsPayload:
    account: ImCreditAccount | None = None
    transaction: ImCreditTransaction | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecordImMessagesPayload:
    account: ImCreditAccount | None = None
    transaction: ImCreditTransaction | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RecordAddOnUsagePayload:
    payment: Payment | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _ledger_objects(ctx: Context, organization_id: int,
                          entry: service.LedgerEntry) -> tuple[ImCreditAccount, ImCreditTransaction]:
    show_amounts = organization_id in await allowed_organizations(ctx, READ_AMOUNTS, [organization_id])
    account = ImCreditAccount(balance=entry.balance, organization_pk=organization_id, show_amounts=show_amounts)
    return account, ImCreditTransaction.from_row(entry.transaction, show_amounts=show_amounts)


@extends(Mutation)
class DeskImMutations:
    @strawberry.mutation(description="Buy instant-messaging credits: charges the organization's card (tagged "
                                     "RESELLER_CARD or CUSTOMER_CARD) and adds the credits in one transaction.")
    async def purchase_im_credits(self, info: strawberry.Info[Context, None],
                                  input: PurchaseImCreditsInput) -> PurchaseImCreditsPayload:
        ctx: Context = info.context
        organization_id = decode_pk(input.organization_id, "Organization")

        async def body() -> PurchaseImCreditsPayload:
            decision = await authorize_organization(ctx, PURCHASE, organization_id)
            await ensure_subscription_authority(ctx, decision, organization_id)
            entry = await service.purchase_credits(ctx, organization_id, input.credits, settings=desk_im_settings(),
                                                   idempotency_key=input.idempotency_key)
            if not entry.replayed:
                row = entry.transaction
                audit(ctx, decision, "desk_im.purchase_credits", organization_id=organization_id, details={
                    "credits": input.credits, "amount": str(row.amount), "currency": row.currency,
                    "cardOwner": row.card_owner, "paymentId": row.payment_id, "balance": entry.balance})
            account, transaction = await _ledger_objects(ctx, organization_id, entry)
            return PurchaseImCreditsPayload(account=account, transaction=transaction)

        return await run_mutation(ctx, PurchaseImCreditsPayload, body)

    @strawberry.mutation(description="The messaging service records messages sent: charged channels (WhatsApp by "
                                     "default) consume one credit each; INSUFFICIENT_CREDITS consumes nothing.")
    async def record_im_messages(self, info: strawberry.Info[Context, None],
                                 input: RecordImMessagesInput) -> RecordImMessagesPayload:
        ctx: Context = info.context
        organization_id = decode_pk(input.organization_id, "Organization")

        async def body() -> RecordImMessagesPayload:
            decision = await authorize_organization(ctx, RECORD_MESSAGES, organization_id)
            entry = await service.record_messages(ctx, organization_id, input.channel.value, input.count,
                                                  settings=desk_im_settings(), idempotency_key=input.idempotency_key)
            if not entry.replayed:
                audit(ctx, decision, "desk_im.record_messages", organization_id=organization_id, details={
                    "channel": input.channel.value, "count": input.count, "credits": entry.transaction.credits,
                    "balance": entry.balance})
            account, transaction = await _ledger_objects(ctx, organization_id, entry)
            return RecordImMessagesPayload(account=account, transaction=transaction)

        return await run_mutation(ctx, RecordImMessagesPayload, body)

    @strawberry.mutation(description="Charge the card for usage of a POSTPAID add-on (e.g. DESK_SMS) of the "
                                     "subscription's product: quantity × unit price, one Payment per call.")
    async def record_add_on_usage(self, info: strawberry.Info[Context, None],
                                  input: RecordAddOnUsageInput) -> RecordAddOnUsagePayload:
        ctx: Context = info.context
        subscription_id = decode_pk(input.subscription_id, "ProductSubscription")

        async def body() -> RecordAddOnUsagePayload:
            ctx.require_user()
            subscription = await ctx.session.get(SubscriptionRow, subscription_id)
            if subscription is None:
                raise NotFound("No subscription has that ID.")
            decision = await authorize_organization(ctx, RECORD_ADD_ON_USAGE, subscription.organization_id)
            charge = await service.record_add_on_usage(ctx, subscription, input.add_on_code, input.quantity,
                                                       idempotency_key=input.idempotency_key)
            if not charge.replayed and charge.add_on is not None:
                audit(ctx, decision, "desk_im.record_add_on_usage", organization_id=subscription.organization_id,
                      details={"subscriptionId": subscription.id, "addOn": charge.add_on.code,
                               "quantity": input.quantity, "amount": str(charge.payment.amount),
                               "currency": charge.payment.currency, "paymentId": charge.payment.id})
            return RecordAddOnUsagePayload(payment=Payment.from_row(charge.payment))

        return await run_mutation(ctx, RecordAddOnUsagePayload, body)
