"""Subscription rules: who may change them, loading them for update, and every transition."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.context import Context
from gateway.errors import DomainError, NotFound
from gateway.policy import Decision
from schema.access import DELEGATED_ADMIN, MAPPED_ADMIN, ORG_SUPER_ADMIN, organization_access
from schema.models import Organization, Partner, Subscription


async def ensure_subscription_authority(ctx: Context, decision: Decision, organization_id: int) -> None:
    """The subscription-authority rule of DESIGN.md, after the policy allowed the action.

    For an organization mapped to a partner (reseller purchase mode) only that partner's
    admins (and platform admins) change plans, licenses, storage and add-ons; the
    organization's own super admin gets PARTNER_MANAGED_SUBSCRIPTION naming the partner.
    A direct customer (no mapped partner) manages its own subscriptions.
    """
    organization = await ctx.session.get(Organization, organization_id)
    if organization is None:
        raise NotFound("No organization has that ID.")
    if organization.partner_id is None:
        return
    grant = decision.grant
    if grant.name == MAPPED_ADMIN or grant.via == "PLATFORM":
        return
    # A viewer holding the mapped partner's admin grant besides the one the policy picked is that partner's admin.
    access = (await organization_access(ctx, [organization_id])).get(organization_id)
    if access is not None and any(g.name == MAPPED_ADMIN and not g.partner_disabled for g in access.grants):
        return
    if grant.name == DELEGATED_ADMIN and grant.partner_id == organization.partner_id:
        return
    partner = await ctx.session.get(Partner, organization.partner_id)
    partner_name = partner.name if partner is not None else "your partner"
    if grant.name == ORG_SUPER_ADMIN or grant.via == "MEMBERSHIP":
        message = (f"Your subscriptions are managed by your partner {partner_name}; "
                   f"contact your partner {partner_name} to change them.")
    else:
        message = (f"This organization's subscriptions are managed by its partner {partner_name}; "
                   "only that partner's admins can change them.")
    raise DomainError("PARTNER_MANAGED_SUBSCRIPTION", message)


async def load_subscription_for_update(session: AsyncSession, subscription_id: int) -> Subscription:
    """The subscription row, locked (SELECT ... FOR UPDATE) until the transaction ends on PostgreSQL.

    SQLite has no row locks; there a write transaction serializes writers instead. The row
    is re-read from the database even if the session already holds it (populate_existing).
    """
    row = await session.scalar(
        select(Subscription).where(Subscription.id == subscription_id).with_for_update()
        .execution_options(populate_existing=True)
    )
    if row is None:
        raise NotFound("No subscription has that ID.")
    return row
