"""The demo seed adds the certificate catalog and a few certificate subscriptions, once."""

from __future__ import annotations

from sqlalchemy import func, select

from gateway.catalog import run_catalog_seeders
from gateway.demo import DemoData
from gateway.plugins import load_order, maybe_await, owner_of
from plugins.certificates.demo import seed_demo as seed_certificates
from plugins.certificates.models import CertificateInventory, CertificateType
from schema.models import InvoiceLine, Organization, Product, Subscription


async def seed_demo(runtime):
    """The catalog sync, the core's seeders, then this plugin's (the order ``gateway demo seed`` promises)."""
    demo = DemoData()
    async with runtime.sessions() as session, session.begin():
        await run_catalog_seeders(runtime.plugin_manager, session)
        for impl in load_order(runtime.plugin_manager.hook.gateway_seed_demo):
            if owner_of(impl.plugin_name) == "core":  # each part of the core, in its order
                await maybe_await(impl.function(session=session, demo=demo))
        await seed_certificates(session, demo)


async def _snapshot(runtime):
    async with runtime.sessions() as session:
        rows = (await session.execute(
            select(Organization.domain, Subscription.auto_renew, func.count(CertificateInventory.id))
            .join(Subscription, Subscription.organization_id == Organization.id)
            .join(Product, Product.id == Subscription.product_id)
            .join(CertificateInventory, CertificateInventory.subscription_id == Subscription.id)
            .where(Product.code == "CERTIFICATES")
            .group_by(Subscription.id, Organization.domain, Subscription.auto_renew).order_by(Subscription.id))).all()
        types = await session.scalar(select(func.count(CertificateType.id)))
        lines = await session.scalar(select(func.count(InvoiceLine.id)))
    return [tuple(r) for r in rows], types, lines


async def test_demo_seed_is_idempotent_and_mixes_auto_renew(runtime):
    await seed_demo(runtime)
    first = await _snapshot(runtime)
    subscriptions, types, _ = first
    assert types == 6
    assert subscriptions == [
        ("acme.example", True, 2), ("acme.example", False, 1),
        ("globex.example", True, 2), ("umbrella.example", False, 1),
    ]
    await seed_demo(runtime)
    assert await _snapshot(runtime) == first
