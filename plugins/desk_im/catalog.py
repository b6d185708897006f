"""The desk product's catalog as data: the DESK product, its plans, add-ons and list prices (USD).

Answered to the catalog part's ``gateway_catalog`` hook (``plugin.py``); ``gateway catalog sync``
writes what is missing. A list price changed here does not change the database's price of an
existing plan (the sync reports the drift): a platform admin changes prices, with history. The
price of instant-messaging credits is a setting (``GATEWAY_DESK_IM_CREDIT_PRICE``), not catalog data.
"""

from __future__ import annotations

from decimal import Decimal

from schema.catalog.declaration import AddOnSpec, PlanSpec, ProductSpec

CATALOG = ProductSpec(
    code="DESK", name="Desk with instant messaging",
    plans=(
        PlanSpec(code="DESK_STANDARD", name="Desk Standard", price_per_license=Decimal("12.00"),
                 billing_period="MONTHLY", included_storage_gb=5, trial_days=14, rank=1,
                 storage_price_per_gb=Decimal("0.50")),
        PlanSpec(code="DESK_PROFESSIONAL", name="Desk Professional", price_per_license=Decimal("25.00"),
                 billing_period="MONTHLY", included_storage_gb=20, trial_days=14, rank=2,
                 storage_price_per_gb=Decimal("0.50")),
    ),
    add_ons=(
        AddOnSpec(code="DESK_SMS", name="Desk SMS", unit_price=Decimal("0.05"), billing="POSTPAID", unit="message"),
        AddOnSpec(code="DESK_VOICE_MINUTES", name="Desk voice minutes", unit_price=Decimal("0.02"),
                  billing="POSTPAID", unit="minute"),
    ),
)
