"""Billing fields of Organization: the card on file, payments and the upcoming invoice (analysts are refused)."""

from __future__ import annotations

from sqlalchemy import select

from gateway.batch import batch_field
from gateway.composition import extends
from gateway.context import Context
from gateway.relay import Connection, PageArgs, SortKey, paginate_grouped
from schema.access import allowed_organizations
from schema.billing.invoice import upcoming_invoices
from schema.billing.types import InvoiceLine, InvoicePreview, Payment, PaymentMethod
from schema.common import Money
from schema.models import Payment as PaymentRow
from schema.models import PaymentMethod as PaymentMethodRow
from schema.organizations.types import Organization, refusal

READ_ACTION = "organization.read_billing"


async def _allowed(ctx: Context, parents: list[Organization]) -> list[int]:
    allowed = await allowed_organizations(ctx, READ_ACTION, [p.pk for p in parents])
    return [p.pk for p in parents if p.pk in allowed]


@extends(Organization)
class OrganizationBillingFields:
    @batch_field(description="The card on file (token details only); null when there is none.")
    @staticmethod
    async def payment_method(parents: list[Organization], ctx: Context) -> list[PaymentMethod | None | Exception]:
        keys = await _allowed(ctx, parents)
        rows = (await ctx.session.scalars(
            select(PaymentMethodRow).where(PaymentMethodRow.organization_id.in_(keys)))).all()
        by_org = {row.organization_id: PaymentMethod.from_row(row) for row in rows}
        allowed = set(keys)
        return [by_org.get(p.pk) if p.pk in allowed else refusal(ctx, READ_ACTION) for p in parents]

    @batch_field(description="Charges on the organization's card, newest first.")
    @staticmethod
    async def payments(parents: list[Organization], ctx: Context, first: int | None = None,
                       after: str | None = None) -> list[Connection[Payment] | Exception]:
        keys = await _allowed(ctx, parents)
        pages = await paginate_grouped(
            ctx, select(PaymentRow).where(PaymentRow.organization_id.in_(keys)), entity=PaymentRow,
            sort=[SortKey(PaymentRow.id, descending=True)], page=PageArgs(first=first, after=after),
            to_node=Payment.from_row, group_by=PaymentRow.organization_id, group_keys=keys,
        ) if keys else {}
        return [pages.get(p.pk) or refusal(ctx, READ_ACTION) for p in parents]

    @batch_field(description="The next invoice if nothing changes: recurring charges of the active subscriptions for "
                             "the next period, pending pro-rations and credits, and lines added by product plugins.")
    @staticmethod
    async def upcoming_invoice(parents: list[Organization], ctx: Context) -> list[InvoicePreview | None | Exception]:
        keys = await _allowed(ctx, parents)
        previews = await upcoming_invoices(ctx, keys)
        result: list[InvoicePreview | None | Exception] = []
        for parent in parents:
            preview = previews.get(parent.pk)
            if preview is None:
                result.append(refusal(ctx, READ_ACTION))
                continue
            result.append(InvoicePreview(
                period_end=preview.period_end,
                lines=[InvoiceLine(description=line.description, amount=Money.of(line.amount, line.currency),
                                   prorated=line.prorated, subscription_pk=line.subscription_id)
                       for line in preview.lines],
                total=Money.of(*preview.total), totals=[Money.of(*pair) for pair in preview.totals],
            ))
        return result
