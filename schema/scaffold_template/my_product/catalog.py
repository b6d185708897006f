"""What My product sells, as data: its product, plans, add-ons and list prices (``gateway catalog sync``)."""

from __future__ import annotations

from decimal import Decimal

from schema.catalog.declaration import AddOnSpec, PlanSpec, ProductSpec

PRODUCT = "MY_PRODUCT"

CATALOG = ProductSpec(
    code=PRODUCT, name="My product",
    plans=(
        PlanSpec(code="MY_PRODUCT_STANDARD", name="My product Standard", price_per_license=Decimal("3.00"),
                 billing_period="MONTHLY", included_storage_gb=50, trial_days=30, rank=1,
                 storage_price_per_gb=Decimal("0.10")),
    ),
    add_ons=(
        AddOnSpec(code="MY_PRODUCT_EXTRA_GB", name="My product extra storage", unit_price=Decimal("0.10"),
                  billing="PREPAID", unit="GB"),
    ),
)
