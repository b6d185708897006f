"""What the plugin brings besides its API: its migrations, its catalog and its demo rows."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from gateway.catalog import seed_catalog
from gateway.db import create_engine
from gateway.demo import DemoData
from gateway.migrations import schema_diff, upgrade_heads
from gateway.plugins import create_plugin_manager
from gateway.runtime import Runtime
from schema.common import seeded_organizations
from schema.models import AddOn, Plan, Product
from schema.testing import World

from ..catalog import CATALOG
from ..demo import seed_demo
from ..models import MyProductAccount


async def test_the_migrations_make_exactly_the_models_tables(gateway_plugins: list[str], tmp_path: Path) -> None:
    # once, on SQLite (no runtime: its tables come from the models, not from the migrations)
    plugin_manager = create_plugin_manager(gateway_plugins)
    url = f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
    engine = create_engine(url)
    try:
        await upgrade_heads(plugin_manager, engine, url)
        assert await schema_diff(plugin_manager, engine) == []  # else: gateway db revision --plugin my_product
    finally:
        await engine.dispose()


async def test_the_catalog_sync_writes_the_declared_product(runtime: Runtime) -> None:
    await seed_catalog(runtime)
    await seed_catalog(runtime)  # idempotent: nothing is added twice
    async with runtime.sessions() as session:
        product = await session.scalar(select(Product).where(Product.code == CATALOG.code))
        assert product is not None and product.name == CATALOG.name
        plans = (await session.scalars(select(Plan).where(Plan.product_id == product.id))).all()
        add_ons = (await session.scalars(select(AddOn).where(AddOn.product_id == product.id))).all()
    assert [(p.code, p.price_per_license) for p in plans] == [("MY_PRODUCT_STANDARD", Decimal("3.00"))]
    assert [(a.code, a.unit_price, a.unit) for a in add_ons] == [("MY_PRODUCT_EXTRA_GB", Decimal("0.10"), "GB")]


async def test_the_demo_rows_are_idempotent(runtime: Runtime, world: World) -> None:
    demo = DemoData()
    seeded_organizations(demo).update({"acme.example": world.organizations["acme"]})
    for _ in range(2):
        async with runtime.sessions() as session, session.begin():
            await seed_demo(session, demo)
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(MyProductAccount))).all()
    assert [(row.organization_id, row.storage_gb) for row in rows] == [(world.organizations["acme"], 50)]
