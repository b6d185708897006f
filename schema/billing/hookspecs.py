"""The hooks the billing part declares (added by its ``gateway_add_hookspecs``) and calls."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from gateway.hookspecs import hookspec

if TYPE_CHECKING:
    from gateway.context import Context
    from schema.billing.processor import PaymentProcessor


class ComputedInvoiceLine(Protocol):
    """A line a plugin computes for an upcoming invoice (any object with these attributes)."""

    description: str
    amount: Decimal
    currency: str
    prorated: bool
    subscription_id: int | None


InvoiceLines = Mapping[int, Sequence[ComputedInvoiceLine]]


@hookspec(firstresult=True)
def gateway_payment_processor() -> PaymentProcessor | None:
    """Return the payment processor (``charge(token, amount, description, idempotency_key, currency)``);
    the first answer wins (the core's fake processor answers last)."""


@hookspec
def gateway_invoice_lines(ctx: Context, organization_ids: list[int]) -> InvoiceLines | Awaitable[InvoiceLines]:
    """Return (or await) ``{organization id: [line, ...]}`` of computed lines for the upcoming invoices.

    A line is a :class:`ComputedInvoiceLine`. Lines a plugin wants billed later can instead be written
    to the core's ``invoice_lines`` table, which the core reads itself. Called once per level with
    every organization id.
    """
