"""Catalog look-ups by code, and the sync that writes the products the plugins declare.

``sync_catalog(session, {plugin: [ProductSpec, ...]})`` adds the products, plans and add-ons
that are missing (idempotent) and changes no row that exists: prices are changed by a platform
admin, with history, so a declaration that differs from the database is reported as drift,
not applied. ``declared_catalog(pm)`` reads every enabled plugin's ``gateway_catalog`` answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pluggy
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.errors import DomainError
from gateway.plugins import contributions
from schema.catalog.declaration import AddOnSpec, PlanSpec, ProductSpec
from schema.models import AddOn, Plan, Product

CATALOG_STEP = "gateway catalog sync"
CATALOG_EMPTY = (f"No products are defined yet, so nothing can be ordered: a platform admin must load the "
                 f"catalog (`{CATALOG_STEP}` on the server), then try again.")


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


# ---------------------------------------------------------------- declared catalogs
class CatalogConflict(Exception):
    """Declarations that cannot be synced together (a code declared twice, a malformed answer); names the plugins."""


# The columns a declaration sets, per kind of row (the sync compares them to report drift).
PRODUCT_FIELDS = ("name",)
PLAN_FIELDS = ("name", "price_per_license", "currency", "billing_period", "included_storage_gb", "trial_days",
               "rank", "storage_price_per_gb")
ADD_ON_FIELDS = ("name", "unit_price", "currency", "billing", "unit")


@dataclass(frozen=True)
class Drift:
    """A declared value that differs from the row in the database (the sync leaves the row alone)."""

    plugin: str
    kind: str  # product, plan, add-on
    code: str
    field: str
    declared: str
    database: str

    def __str__(self) -> str:
        return f"{self.kind} {self.code} ({self.plugin}): {self.field} declared {self.declared}, " \
               f"database {self.database}"


@dataclass
class SyncResult:
    """Rows added per plugin (``{plugin: {"products": n, "plans": n, "add-ons": n}}``, only kinds with rows) and
    the drift found."""

    added: dict[str, dict[str, int]] = field(default_factory=dict)
    drift: list[Drift] = field(default_factory=list)

    def count(self, plugin: str, kind: str) -> None:
        counts = self.added.setdefault(plugin, {})
        counts[kind] = counts.get(kind, 0) + 1


def declared_catalog(pm: pluggy.PluginManager) -> dict[str, list[ProductSpec]]:
    """Every enabled plugin's ``gateway_catalog`` answer, by plugin (in plugin order)."""
    declared: dict[str, list[ProductSpec]] = {}
    for plugin, answer in contributions(pm, "gateway_catalog"):  # traced; None answers left out
        if not isinstance(answer, (list, tuple)) or not all(isinstance(p, ProductSpec) for p in answer):
            raise CatalogConflict(f"plugin {plugin!r} answered gateway_catalog with {answer!r}; expected a list of "
                                  "schema.catalog.declaration.ProductSpec")
        declared.setdefault(plugin, []).extend(answer)
    return declared


def check_declarations(declarations: Mapping[str, Sequence[ProductSpec]]) -> None:
    """Refuse a product, plan or add-on code declared twice: by two plugins (naming both) or by one."""
    owners: dict[tuple[str, str], str] = {}
    for plugin, products in declarations.items():
        for product in products:
            items = [("product", product.code), *(("plan", plan.code) for plan in product.plans),
                     *(("add-on", add_on.code) for add_on in product.add_ons)]
            for kind, code in items:
                first = owners.get((kind, code))
                if first is None:
                    owners[(kind, code)] = plugin
                elif first == plugin:
                    raise CatalogConflict(f"plugin {plugin!r} declares the {kind} code {code} twice")
                else:
                    raise CatalogConflict(f"the {kind} code {code} is declared by two plugins, {first!r} and "
                                          f"{plugin!r}: one of them must use another code (or be disabled)")


def shown_value(value: object) -> str:
    """A value as a drift line shows it: amounts without the database's trailing zeros (4.0000 -> 4.00)."""
    if isinstance(value, Decimal):
        cents = value.quantize(Decimal("0.01"))
        return str(cents) if cents == value else str(value.normalize())
    return str(value)


def _drift(result: SyncResult, plugin: str, kind: str, spec: ProductSpec | PlanSpec | AddOnSpec, row: Any,
           fields: Sequence[str]) -> None:
    for name in fields:
        declared, stored = getattr(spec, name), getattr(row, name)
        if declared != stored:  # Decimal("4.00") == Decimal("4.0000")
            result.drift.append(Drift(plugin, kind, spec.code, name, shown_value(declared), shown_value(stored)))


async def sync_catalog(session: AsyncSession, declarations: Mapping[str, Sequence[ProductSpec]]) -> SyncResult:
    """Add the declared products, plans and add-ons that are missing; report (never apply) drift on the others.

    ``declarations`` is ``{plugin name: [ProductSpec, ...]}`` (``declared_catalog(pm)``). A code
    declared twice raises :class:`CatalogConflict` before anything is written. Idempotent: a
    second run adds nothing and reports the same drift.
    """
    check_declarations(declarations)
    result = SyncResult()
    products = {row.code: row for row in (await session.scalars(select(Product))).all()}
    plans = {row.code: row for row in (await session.scalars(select(Plan))).all()}
    add_ons = {row.code: row for row in (await session.scalars(select(AddOn))).all()}
    by_id = {row.id: row.code for row in products.values()}
    for plugin, specs in declarations.items():
        for spec in specs:
            row = products.get(spec.code)
            if row is None:
                row = products[spec.code] = Product(code=spec.code, name=spec.name)
                session.add(row)
                result.count(plugin, "products")
            else:
                _drift(result, plugin, "product", spec, row, PRODUCT_FIELDS)
    await session.flush()
    for plugin, specs in declarations.items():
        for spec in specs:
            product = products[spec.code]
            for plan in spec.plans:
                existing = plans.get(plan.code)
                if existing is None:
                    session.add(Plan(product_id=product.id, code=plan.code, name=plan.name,
                                     price_per_license=plan.price_per_license, currency=plan.currency,
                                     billing_period=plan.billing_period, included_storage_gb=plan.included_storage_gb,
                                     trial_days=plan.trial_days, rank=plan.rank,
                                     storage_price_per_gb=plan.storage_price_per_gb))
                    result.count(plugin, "plans")
                    continue
                if existing.product_id != product.id:
                    result.drift.append(Drift(plugin, "plan", plan.code, "product", spec.code,
                                              by_id.get(existing.product_id, str(existing.product_id))))
                _drift(result, plugin, "plan", plan, existing, PLAN_FIELDS)
            for add_on in spec.add_ons:
                found = add_ons.get(add_on.code)
                if found is None:
                    session.add(AddOn(product_id=product.id, code=add_on.code, name=add_on.name,
                                      unit_price=add_on.unit_price, currency=add_on.currency, billing=add_on.billing,
                                      unit=add_on.unit))
                    result.count(plugin, "add-ons")
                    continue
                if found.product_id != product.id:
                    result.drift.append(Drift(plugin, "add-on", add_on.code, "product", spec.code,
                                              by_id.get(found.product_id, str(found.product_id))))
                _drift(result, plugin, "add-on", add_on, found, ADD_ON_FIELDS)
    await session.flush()
    return result


async def catalog_is_empty(session: AsyncSession) -> bool:
    return await session.scalar(select(Product.id).limit(1)) is None
