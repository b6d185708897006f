"""Test helpers of the certificates plugin: the standard world plus the certificate catalog."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from gateway.runtime import Runtime
from plugins.certificates.catalog import ensure_certificate_catalog
from plugins.certificates.service import Item, SubscriptionSpec, create_subscriptions
from schema.models import PaymentMethod
from schema.testing import World, build_world

UTC = dt.UTC


def at(year: int, month: int, day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


async def certificate_world(runtime: Runtime) -> World:
    """``schema.testing.build_world`` with the CERTIFICATES product, plan and certificate types, and a card on
    file for acme and direct (renewals charge it)."""
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        await ensure_certificate_catalog(session)
        for key in ("acme", "direct"):
            session.add(PaymentMethod(organization_id=world.organizations[key], owner="CUSTOMER_CARD",
                                      processor_token="tok_certificates_test", brand="VISA", last4="4242",
                                      exp_month=12, exp_year=2099))
    return world


async def add_subscription(runtime: Runtime, organization_id: int, items: dict[str, int], *, auto_renew: bool = True,
                           now: dt.datetime | None = None) -> int:
    """One certificate subscription straight through the service; returns its primary key."""
    from gateway.db import utcnow

    async with runtime.sessions() as session, session.begin():
        [subscription] = await create_subscriptions(
            session, organization_id=organization_id, now=now or utcnow(),
            specs=[SubscriptionSpec([Item(code, quantity) for code, quantity in items.items()], auto_renew)])
        return subscription.id


def items(pairs: Sequence[tuple[str, int]]) -> list[dict[str, str | int]]:
    return [{"certificateTypeCode": code, "quantity": quantity} for code, quantity in pairs]
