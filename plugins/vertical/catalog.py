"""The vertical product's catalog as data: the VERTICAL product, its plans, add-ons and list prices (USD).

Answered to the catalog part's ``gateway_catalog`` hook (``plugin.py``); ``gateway catalog sync``
writes what is missing. A list price changed here does not change the database's price of an
existing plan (the sync reports the drift): a platform admin changes prices, with history.
"""

from __future__ import annotations

from decimal import Decimal

from schema.catalog.declaration import AddOnSpec, PlanSpec, ProductSpec

CATALOG = ProductSpec(
    code="VERTICAL", name="Vertical Solutions",
    plans=(
        PlanSpec(code="VERTICAL_STARTER", name="Vertical Starter", price_per_license=Decimal("15.00"),
                 billing_period="MONTHLY", included_storage_gb=20, trial_days=30, rank=1,
                 storage_price_per_gb=Decimal("0.30")),
        PlanSpec(code="VERTICAL_PROFESSIONAL", name="Vertical Professional", price_per_license=Decimal("35.00"),
                 billing_period="MONTHLY", included_storage_gb=100, trial_days=30, rank=2,
                 storage_price_per_gb=Decimal("0.25")),
    ),
    add_ons=(
        AddOnSpec(code="VERTICAL_STORAGE", name="Vertical storage", unit_price=Decimal("0.25"),
                  billing="PREPAID", unit="GB"),
    ),
)
