"""What the billing part adds to the core plugin, including the built-in fake payment processor."""

from __future__ import annotations

from typing import Any

from schema.access import allowed_organizations
from schema.billing.demo import seed_demo
from schema.billing.mutations import BillingMutations
from schema.billing.processor import FAKE_PROCESSOR
from schema.billing.queries import OrganizationBillingFields
from schema.billing.types import Payment, payments_by_pk


async def _visible_payments(ctx: Any, pks: list[int]) -> list[Payment | None]:
    ctx.require_user()
    found = await payments_by_pk(ctx, pks)  # type: ignore[arg-type]
    allowed = await allowed_organizations(ctx, "organization.read_billing",
                                          {p.organization_pk for p in found if p is not None})
    return [p if p is not None and p.organization_pk in allowed else None for p in found]


def payment_processor() -> Any:
    return FAKE_PROCESSOR


TYPES = [Payment]
EXTENSIONS = [OrganizationBillingFields, BillingMutations]
NODE_RESOLVERS = {"Payment": _visible_payments}

__all__ = ["seed_demo"]
