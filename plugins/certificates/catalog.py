"""The certificates product's catalog as data: the CERTIFICATES product and plan, and the certificate types.

The product and its plan are answered to the catalog part's ``gateway_catalog`` hook and
written by its sync; the certificate types (this plugin's own table, a yearly price per
certificate) are written here, from the host's ``gateway_seed_catalog`` (``plugin.py``), in
the same ``gateway catalog sync``. Both add only what is missing and change no row that
exists: a type whose name or price differs from this list is reported as drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.catalog import CatalogReport
from plugins.certificates.models import CertificateType
from plugins.certificates.service import CERTIFICATE_PLAN, CERTIFICATES_PRODUCT
from schema.catalog.declaration import PlanSpec, ProductSpec
from schema.catalog.service import shown_value, sync_catalog
from schema.models import Product

PLUGIN = "certificates"

CATALOG = ProductSpec(
    code=CERTIFICATES_PRODUCT, name="Certificate Manager",
    plans=(
        # Certificate subscriptions have no licenses: they are charged per certificate type below.
        PlanSpec(code=CERTIFICATE_PLAN, name="Certificate Manager Standard", price_per_license=Decimal("120.00"),
                 billing_period="YEARLY", included_storage_gb=0, trial_days=0, rank=1),
    ),
)


@dataclass(frozen=True)
class CertificateTypeSpec:
    code: str
    name: str
    unit_price: Decimal  # per certificate and per year
    currency: str = "USD"


CERTIFICATE_TYPES = (
    CertificateTypeSpec("DV", "Domain Validated (DV)", Decimal("49.00")),
    CertificateTypeSpec("OV", "Organization Validated (OV)", Decimal("149.00")),
    CertificateTypeSpec("EV", "Extended Validation (EV)", Decimal("299.00")),
    CertificateTypeSpec("WILDCARD", "Wildcard", Decimal("199.00")),
    CertificateTypeSpec("MULTI_DOMAIN", "Multi-domain (SAN)", Decimal("249.00")),
    CertificateTypeSpec("CODE_SIGNING", "Code signing", Decimal("399.00")),
)


async def seed_certificate_types(session: AsyncSession, *, only_if_empty: bool = False) -> CatalogReport:
    """The plugin's ``gateway_seed_catalog``: the missing certificate types; drift on the others.

    With ``only_if_empty`` (``gateway db upgrade``) the types follow their product: added only when
    there is none yet and the CERTIFICATES product exists (the core's sync, just before, added it
    to an empty catalog; on a catalog that was not empty it added nothing, and neither does this).
    """
    existing = {row.code: row for row in (await session.scalars(select(CertificateType))).all()}
    if only_if_empty and (existing or await session.scalar(
            select(Product.id).where(Product.code == CERTIFICATES_PRODUCT)) is None):
        return CatalogReport()
    added, drift = 0, []
    for spec in CERTIFICATE_TYPES:
        row = existing.get(spec.code)
        if row is None:
            session.add(CertificateType(code=spec.code, name=spec.name, unit_price=spec.unit_price,
                                        currency=spec.currency))
            added += 1
            continue
        for field in ("name", "unit_price", "currency"):
            declared, stored = getattr(spec, field), getattr(row, field)
            if declared != stored:
                drift.append(f"certificate type {spec.code} ({PLUGIN}): {field} declared {shown_value(declared)}, "
                             f"database {shown_value(stored)}")
    await session.flush()
    return CatalogReport(added={PLUGIN: {"certificate types": added}}, drift=drift)


async def ensure_certificate_catalog(session: AsyncSession) -> dict[str, CertificateType]:
    """The CERTIFICATES product and plan and the certificate types, where missing (tests, the demo); types by code."""
    await sync_catalog(session, {PLUGIN: [CATALOG]})
    await seed_certificate_types(session)
    return {row.code: row for row in (await session.scalars(select(CertificateType))).all()}
