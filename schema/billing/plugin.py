"""The billing part of the core, as a plugin: payments, invoices and the built-in fake payment processor.

It declares the billing hooks (``schema/billing/hookspecs.py``) that other plugins answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import pluggy
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.context import Context
from gateway.demo import DemoData
from gateway.hookspecs import hookimpl
from schema.access import allowed_organizations
from schema.billing import hookspecs
from schema.billing.demo import seed_demo
from schema.billing.mutations import BillingMutations
from schema.billing.processor import FAKE_PROCESSOR, PaymentProcessor
from schema.billing.queries import OrganizationBillingFields
from schema.billing.types import Payment, payments_by_pk

if TYPE_CHECKING:
    from gateway.hookspecs import NodeResolver


async def _visible_payments(ctx: Context, pks: list[int]) -> list[Payment | None]:
    ctx.require_user()
    found = await payments_by_pk(ctx, list(pks))
    allowed = await allowed_organizations(ctx, "organization.read_billing",
                                          {p.organization_pk for p in found if p is not None})
    return [p if p is not None and p.organization_pk in allowed else None for p in found]


@hookimpl
def gateway_add_hookspecs(pm: pluggy.PluginManager) -> None:
    pm.add_hookspecs(hookspecs)


@hookimpl
def gateway_types() -> list[type]:
    return [Payment]


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [OrganizationBillingFields, BillingMutations]


@hookimpl
def gateway_node_resolvers() -> Mapping[str, NodeResolver]:
    return {"Payment": _visible_payments}


@hookimpl
async def gateway_seed_demo(session: AsyncSession, demo: DemoData) -> None:
    await seed_demo(session, demo)


@hookimpl(trylast=True)
def gateway_payment_processor() -> PaymentProcessor:
    """The fake processor answers last: a real processor plugin answering first replaces it."""
    return FAKE_PROCESSOR
