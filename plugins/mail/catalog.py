"""The mail product's catalog as data: the MAIL product, its plans, add-ons and list prices (USD).

Answered to the catalog part's ``gateway_catalog`` hook (``plugin.py``); ``gateway catalog sync``
writes what is missing. A list price changed here does not change the database's price of an
existing plan (the sync reports the drift): a platform admin changes prices, with history.
"""

from __future__ import annotations

from decimal import Decimal

from schema.catalog.declaration import AddOnSpec, PlanSpec, ProductSpec

CATALOG = ProductSpec(
    code="MAIL", name="Mail",
    plans=(
        PlanSpec(code="MAIL_STANDARD", name="Mail Standard", price_per_license=Decimal("4.00"),
                 billing_period="MONTHLY", included_storage_gb=10, trial_days=15, rank=1,
                 storage_price_per_gb=Decimal("0.50")),
        PlanSpec(code="MAIL_PREMIUM", name="Mail Premium", price_per_license=Decimal("8.00"),
                 billing_period="MONTHLY", included_storage_gb=50, trial_days=15, rank=2,
                 storage_price_per_gb=Decimal("0.40")),
        PlanSpec(code="MAIL_STANDARD_YEARLY", name="Mail Standard (yearly)", price_per_license=Decimal("40.00"),
                 billing_period="YEARLY", included_storage_gb=10, trial_days=15, rank=1,
                 storage_price_per_gb=Decimal("5.00")),
    ),
    add_ons=(
        AddOnSpec(code="MAIL_EXTRA_STORAGE", name="Mail extra storage", unit_price=Decimal("2.00"),
                  billing="PREPAID", unit="10 GB"),
    ),
)
