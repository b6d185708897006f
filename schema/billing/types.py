"""Billing as the graph shows it: the card on file, payments, the upcoming invoice."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry

from gateway.batch import batch_field
from gateway.context import Context
from gateway.errors import UserError
from gateway.relay import Node, encode_id
from gateway.request_cache import ByPrimaryKey
from schema.common import CardOwner, Money, required
from schema.models import Payment as PaymentRow
from schema.models import PaymentMethod as PaymentMethodRow
from schema.organizations.types import Organization, organizations_by_pk


@strawberry.enum(description="The card's brand (OTHER for any brand not listed).")
class CardBrand(enum.Enum):
    VISA = "VISA"
    MASTERCARD = "MASTERCARD"
    AMEX = "AMEX"
    DISCOVER = "DISCOVER"
    JCB = "JCB"
    DINERS = "DINERS"
    UNIONPAY = "UNIONPAY"
    OTHER = "OTHER"


@strawberry.type(description="The card on file: processor token details only, never the card number or CVV.")
class PaymentMethod:
    owner: CardOwner = strawberry.field(description="Whose card it is: the reseller's or the customer's.")
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder_name: str | None
    updated_at: dt.datetime
    organization_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: PaymentMethodRow) -> PaymentMethod:
        return cls(owner=CardOwner(row.owner), brand=row.brand, last4=row.last4, exp_month=row.exp_month,
                   exp_year=row.exp_year, holder_name=row.holder_name, updated_at=row.updated_at,
                   organization_pk=row.organization_id)


@strawberry.type(description="A charge on an organization's card, tagged with whose card paid.")
class Payment(Node):
    id: strawberry.ID
    amount: Money
    card_owner: CardOwner
    description: str
    created_at: dt.datetime
    pk: strawberry.Private[int]
    organization_pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: PaymentRow) -> Payment:
        return cls(id=strawberry.ID(encode_id("Payment", row.id)), amount=Money.of(row.amount, row.currency),
                   card_owner=CardOwner(row.card_owner), description=row.description, created_at=row.created_at,
                   pk=row.id, organization_pk=row.organization_id)

    @batch_field
    @staticmethod
    async def organization(parents: list[Payment], ctx: Context) -> list[Organization | Exception]:
        return required(await organizations_by_pk(ctx, [p.organization_pk for p in parents]), "Organization")


@strawberry.type(description="A line of the upcoming invoice: a recurring charge, a pro-ration, a credit (negative) or a plugin's line.")
class InvoiceLine:
    description: str
    amount: Money
    prorated: bool
    subscription_pk: strawberry.Private[int | None]  # InvoiceLine.subscription: added by the subscriptions part


@strawberry.type(description="What the next invoice will hold if nothing changes before `periodEnd`.")
class InvoicePreview:
    period_end: dt.datetime
    lines: list[InvoiceLine]
    total: Money = strawberry.field(description=(
        "The sum of the lines in the invoice currency: the currency most lines are in (ties: alphabetical; "
        "USD when there are no lines). Lines in other currencies are never converted: see `totals`."))
    totals: list[Money] = strawberry.field(description="One sum per currency present in the lines.")


@strawberry.type
class PaymentMethodPayload:
    payment_method: PaymentMethod | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


# Payments by primary key (per-request cache; no access check: callers decide).
payments_by_pk = ByPrimaryKey("payments", PaymentRow, Payment.from_row)
