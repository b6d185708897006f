"""Catalog look-ups by code and the seeded catalog of the four products."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import DomainError
from schema.models import AddOn, Plan, Product

# (code, name)
PRODUCTS = [
    ("MAIL", "Mail"),
    ("VERTICAL", "Vertical Solutions"),
    ("DESK", "Desk with instant messaging"),
    ("CERTIFICATES", "Certificate Manager"),
]
# (product, code, name, price per license, period, included GB, trial days, rank, storage price per GB)
PLANS = [
    ("MAIL", "MAIL_STANDARD", "Mail Standard", "4.00", "MONTHLY", 10, 15, 1, "0.50"),
    ("MAIL", "MAIL_PREMIUM", "Mail Premium", "8.00", "MONTHLY", 50, 15, 2, "0.40"),
    ("MAIL", "MAIL_STANDARD_YEARLY", "Mail Standard (yearly)", "40.00", "YEARLY", 10, 15, 1, "5.00"),
    ("VERTICAL", "VERTICAL_STARTER", "Vertical Starter", "15.00", "MONTHLY", 20, 30, 1, "0.30"),
    ("VERTICAL", "VERTICAL_PROFESSIONAL", "Vertical Professional", "35.00", "MONTHLY", 100, 30, 2, "0.25"),
    ("DESK", "DESK_STANDARD", "Desk Standard", "12.00", "MONTHLY", 5, 14, 1, "0.50"),
    ("DESK", "DESK_PROFESSIONAL", "Desk Professional", "25.00", "MONTHLY", 20, 14, 2, "0.50"),
    ("CERTIFICATES", "CERT_STANDARD", "Certificate Manager Standard", "120.00", "YEARLY", 0, 0, 1, "0"),
]
# (product, code, name, unit price, billing, unit)
ADD_ONS = [
    ("MAIL", "MAIL_EXTRA_STORAGE", "Mail extra storage", "2.00", "PREPAID", "10 GB"),
    ("VERTICAL", "VERTICAL_STORAGE", "Vertical storage", "0.25", "PREPAID", "GB"),
    ("DESK", "DESK_SMS", "Desk SMS", "0.05", "POSTPAID", "message"),
    ("DESK", "DESK_VOICE_MINUTES", "Desk voice minutes", "0.02", "POSTPAID", "minute"),
]
CURRENCY = "USD"

CATALOG_STEP = "gateway catalog seed"
CATALOG_EMPTY = (f"No products are defined yet, so nothing can be ordered: a platform admin must load the "
                 f"catalog (`{CATALOG_STEP}` on the server), then try again.")


async def seed_catalog(session: AsyncSession) -> dict[str, int]:
    """Add the missing products, plans and add-ons of the standard catalog (idempotent); ids by code."""
    products = {p.code: p for p in (await session.scalars(select(Product))).all()}
    for code, name in PRODUCTS:
        if code not in products:
            products[code] = Product(code=code, name=name)
            session.add(products[code])
    await session.flush()
    plans = {p.code for p in (await session.scalars(select(Plan))).all()}
    for product, code, name, price, period, storage, trial, rank, gb_price in PLANS:
        if code not in plans:
            session.add(Plan(product_id=products[product].id, code=code, name=name, price_per_license=Decimal(price),
                             currency=CURRENCY, billing_period=period, included_storage_gb=storage, trial_days=trial,
                             rank=rank, storage_price_per_gb=Decimal(gb_price)))
    add_ons = {a.code for a in (await session.scalars(select(AddOn))).all()}
    for product, code, name, price, billing, unit in ADD_ONS:
        if code not in add_ons:
            session.add(AddOn(product_id=products[product].id, code=code, name=name, unit_price=Decimal(price),
                              currency=CURRENCY, billing=billing, unit=unit))
    await session.flush()
    return {code: row.id for code, row in products.items()}


async def seed_standard_catalog(session: AsyncSession) -> dict[str, int]:
    """The core's ``gateway_seed_catalog``: ``seed_catalog``, reporting how many rows of each kind it added."""
    before = await catalog_counts(session)
    await seed_catalog(session)
    after = await catalog_counts(session)
    return {kind: after[kind] - before[kind] for kind in after}


async def catalog_counts(session: AsyncSession) -> dict[str, int]:
    return {kind: await session.scalar(select(func.count()).select_from(table)) or 0
            for kind, table in (("products", Product), ("plans", Plan), ("add-ons", AddOn))}


async def refuse_if_catalog_empty(session: AsyncSession) -> None:
    """An order on a database whose catalog was never loaded says what to do, not "unknown plan"."""
    if await session.scalar(select(Product.id).limit(1)) is None:
        raise DomainError("CATALOG_EMPTY", CATALOG_EMPTY)


async def plan_by_code(session: AsyncSession, code: str, field: str = "planCode") -> Plan:
    plan = await session.scalar(select(Plan).where(Plan.code == code.strip().upper()))
    if plan is None:
        await refuse_if_catalog_empty(session)
        raise DomainError("UNKNOWN_PLAN", f"There is no plan with the code {code!r}; the `products` query lists "
                          "every product's plans.", field)
    return plan


async def product_by_code(session: AsyncSession, code: str, field: str = "productCode") -> Product:
    product = await session.scalar(select(Product).where(Product.code == code.strip().upper()))
    if product is None:
        await refuse_if_catalog_empty(session)
        raise DomainError("UNKNOWN_PRODUCT", f"There is no product with the code {code!r}; the `products` query "
                          "lists them.", field)
    return product


async def add_ons_by_code(session: AsyncSession, codes: list[str]) -> dict[str, AddOn]:
    wanted = {c.strip().upper() for c in codes}
    rows = (await session.scalars(select(AddOn).where(AddOn.code.in_(wanted)))).all() if wanted else []
    found = {row.code: row for row in rows}
    for code in sorted(wanted - set(found)):
        await refuse_if_catalog_empty(session)
        raise DomainError("UNKNOWN_ADD_ON", f"There is no add-on with the code {code!r}; the `products` query lists "
                          "every product's add-ons.", ["addOns", "code"])
    return found
