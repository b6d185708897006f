"""Large deals: a partner records an estimate of a future deal for a customer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from gateway.context import Context
from gateway.db import utcnow
from gateway.errors import DomainError
from gateway.policy import Decision
from schema.access import audit
from schema.catalog.service import product_by_code
from schema.common import parse_money, round_money
from schema.models import LargeDeal, Organization

MAX_NOTES = 5000


async def submit_large_deal(
    ctx: Context, decision: Decision, organization_id: int, *, product_code: str, estimated_licenses: int,
    estimated_value: Decimal, currency: str, expected_close_date: dt.date, notes: str | None,
    today: dt.date | None = None,
) -> LargeDeal:
    """Record the deal for the partner through which the viewer manages the organization.

    Refusals: UNKNOWN_PRODUCT, INVALID_LICENSE_COUNT (not positive), INVALID_AMOUNT (not
    positive), INVALID_CURRENCY, CLOSE_DATE_NOT_IN_FUTURE, NOTES_TOO_LONG, NO_PARTNER (a
    platform admin submitting for a direct customer: a deal belongs to a partner).
    """
    product = await product_by_code(ctx.session, product_code)
    if estimated_licenses < 1:
        raise DomainError("INVALID_LICENSE_COUNT", "estimatedLicenses must be at least 1.", "estimatedLicenses")
    value, code = parse_money(estimated_value, currency, "estimatedValue")
    if value <= 0:
        raise DomainError("INVALID_AMOUNT", "estimatedValue must be a positive amount.", ["estimatedValue", "amount"])
    today = today or utcnow().date()
    if expected_close_date <= today:
        raise DomainError("CLOSE_DATE_NOT_IN_FUTURE", "expectedCloseDate must be after today.", "expectedCloseDate")
    if notes is not None and len(notes) > MAX_NOTES:
        raise DomainError("NOTES_TOO_LONG", f"notes are at most {MAX_NOTES} characters.", "notes")
    partner_id = decision.grant.through
    if partner_id is None:
        organization = await ctx.session.get(Organization, organization_id)
        partner_id = organization.partner_id if organization is not None else None
    if partner_id is None:
        raise DomainError("NO_PARTNER", "A large deal belongs to a partner, and this organization has none.")
    deal = LargeDeal(partner_id=partner_id, organization_id=organization_id, product_code=product.code,
                     estimated_licenses=estimated_licenses, estimated_value=round_money(value), currency=code,
                     expected_close_date=expected_close_date, notes=notes.strip() if notes else None,
                     submitted_by_user_id=ctx.viewer.user_id)
    ctx.session.add(deal)
    await ctx.session.flush()
    audit(ctx, decision, "large_deal.submit", organization_id=organization_id, partner_id=partner_id,
          details={"largeDealId": deal.id, "productCode": product.code, "estimatedLicenses": estimated_licenses,
                   "estimatedValue": str(deal.estimated_value), "currency": code,
                   "expectedCloseDate": expected_close_date.isoformat()})
    return deal
