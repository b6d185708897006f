"""Instant-messaging credits as the graph shows them: ``Organization.imCredits`` and its ledger."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry
from sqlalchemy import select

from gateway.batch import batch_field
from gateway.composition import extends
from gateway.context import Context
from gateway.relay import Connection, Node, PageArgs, SortKey, encode_id, paginate_grouped
from plugins.desk_im.actions import READ, READ_AMOUNTS
from plugins.desk_im.models import ImCreditAccount as AccountRow
from plugins.desk_im.models import ImCreditTransaction as TransactionRow
from plugins.desk_im.service import DESK_PRODUCT
from schema.access import allowed_organizations
from schema.common import CardOwner, Money
from schema.identity.types import User, users_by_pk
from schema.models import Organization as OrganizationRow
from schema.models import Product as ProductRow
from schema.models import Subscription as SubscriptionRow
from schema.organizations.types import Organization, refusal


@strawberry.enum(description="A messaging channel of Desk.")
class ImChannel(enum.Enum):
    WHATSAPP = "WHATSAPP"
    TELEGRAM = "TELEGRAM"
    LINE = "LINE"
    WECHAT = "WECHAT"
    FACEBOOK_MESSENGER = "FACEBOOK_MESSENGER"
    INSTAGRAM = "INSTAGRAM"


@strawberry.enum
class ImCreditTransactionKind(enum.Enum):
    PURCHASE = "PURCHASE"
    USAGE = "USAGE"
    ADJUSTMENT = "ADJUSTMENT"


@strawberry.type(description="One line of the credit ledger. The balance is the sum of every line's `credits`.")
class ImCreditTransaction(Node):
    id: strawberry.ID
    kind: ImCreditTransactionKind
    credits: int = strawberry.field(description="Signed: positive for credits added, negative for credits consumed, "
                                                "0 for messages on a free channel.")
    channel: ImChannel | None = strawberry.field(description="The channel of a usage line.")
    message_count: int | None = strawberry.field(description="Messages a usage line records, charged or not.")
    amount: Money | None = strawberry.field(description="What a purchase cost; null for usage, and for viewers who "
                                                        "may not see payment details (analysts).")
    card_owner: CardOwner | None = strawberry.field(description="Whose card paid a purchase; null like `amount`.")
    at: dt.datetime
    pk: strawberry.Private[int]
    organization_pk: strawberry.Private[int]
    actor_pk: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: TransactionRow, *, show_amounts: bool) -> ImCreditTransaction:
        amount = Money.of(row.amount, row.currency) if show_amounts and row.amount is not None and row.currency else None
        return cls(
            id=strawberry.ID(encode_id("ImCreditTransaction", row.id)), kind=ImCreditTransactionKind(row.kind),
            credits=row.credits, channel=ImChannel(row.channel) if row.channel else None,
            message_count=row.message_count, amount=amount,
            card_owner=CardOwner(row.card_owner) if show_amounts and row.card_owner else None, at=row.at,
            pk=row.id, organization_pk=row.organization_id, actor_pk=row.actor_user_id if show_amounts else None,
        )

    @batch_field(description="Who bought, or which service recorded the usage; null for viewers who may not "
                             "see payment details.")
    @staticmethod
    async def actor(parents: list[ImCreditTransaction], ctx: Context) -> list[User | None]:
        return await users_by_pk(ctx, [p.actor_pk for p in parents])


@strawberry.type(description="An organization's instant-messaging credits: the balance and the ledger it sums.")
class ImCreditAccount:
    balance: int = strawberry.field(description="Credits left; always the sum of the ledger, never negative.")
    organization_pk: strawberry.Private[int]
    show_amounts: strawberry.Private[bool]

    @batch_field(description="The ledger, newest first.")
    @staticmethod
    async def transactions(parents: list[ImCreditAccount], ctx: Context, first: int | None = None,
                           after: str | None = None) -> list[Connection[ImCreditTransaction]]:
        keys = list(dict.fromkeys(p.organization_pk for p in parents))
        with_amounts = {p.organization_pk for p in parents if p.show_amounts}
        pages = await paginate_grouped(
            ctx, select(TransactionRow).where(TransactionRow.organization_id.in_(keys)), entity=TransactionRow,
            sort=[SortKey(TransactionRow.id, descending=True)], page=PageArgs(first=first, after=after),
            to_node=lambda row: ImCreditTransaction.from_row(row, show_amounts=row.organization_id in with_amounts),
            group_by=TransactionRow.organization_id, group_keys=keys,
        )
        return [pages[p.organization_pk] for p in parents]


async def credit_accounts(ctx: Context, organization_pks: list[int]) -> dict[int, ImCreditAccount | None]:
    """The accounts the viewer may read, by organization (None: the organization has no Desk and no credits).

    Organizations the viewer may not read credits of are absent. One statement for every
    organization (besides the per-request access look-up).
    """
    readable = await allowed_organizations(ctx, READ, organization_pks)
    if not readable:
        return {}
    with_amounts = await allowed_organizations(ctx, READ_AMOUNTS, readable)
    has_desk = (
        select(SubscriptionRow.id).join(ProductRow, ProductRow.id == SubscriptionRow.product_id)
        .where(SubscriptionRow.organization_id == OrganizationRow.id, ProductRow.code == DESK_PRODUCT)
        .exists()
    )
    rows = (await ctx.session.execute(
        select(OrganizationRow.id, AccountRow.balance, has_desk.label("has_desk"))
        .outerjoin(AccountRow, AccountRow.organization_id == OrganizationRow.id)
        .where(OrganizationRow.id.in_(sorted(readable)))
    )).all()
    result: dict[int, ImCreditAccount | None] = {pk: None for pk in readable}
    for organization_id, balance, desk in rows:
        if balance is not None or desk:
            result[organization_id] = ImCreditAccount(balance=int(balance or 0), organization_pk=organization_id,
                                                      show_amounts=organization_id in with_amounts)
    return result


@extends(Organization)
class OrganizationImCredits:
    @batch_field(description="Instant-messaging credits (Desk): null when the organization has no Desk subscription "
                             "and never had credits. Billing data: the organization's admins, its partner's admins "
                             "and analysts, and platform staff read it.")
    @staticmethod
    async def im_credits(parents: list[Organization], ctx: Context) -> list[ImCreditAccount | None | Exception]:
        accounts = await credit_accounts(ctx, [p.pk for p in parents])
        return [accounts[p.pk] if p.pk in accounts else refusal(ctx, READ) for p in parents]


async def transactions_by_pk(ctx: Context, pks: list[int]) -> list[ImCreditTransaction | None]:
    """``node(id:)`` for ledger lines: visible to those who may read the organization's credits."""
    if not ctx.viewer.is_authenticated or not pks:
        return [None for _ in pks]
    rows = {row.id: row for row in (await ctx.session.scalars(
        select(TransactionRow).where(TransactionRow.id.in_(pks)))).all()}
    organizations = {row.organization_id for row in rows.values()}
    readable = await allowed_organizations(ctx, READ, organizations)
    with_amounts = await allowed_organizations(ctx, READ_AMOUNTS, readable)
    result: list[ImCreditTransaction | None] = []
    for pk in pks:
        row = rows.get(pk)
        result.append(ImCreditTransaction.from_row(row, show_amounts=row.organization_id in with_amounts)
                      if row is not None and row.organization_id in readable else None)
    return result
