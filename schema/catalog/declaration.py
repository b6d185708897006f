"""A product's catalog as data: what a product plugin declares in its ``catalog.py``.

    from decimal import Decimal
    from schema.catalog.declaration import AddOnSpec, PlanSpec, ProductSpec

    CATALOG = ProductSpec(code="BACKUP", name="Backup",
        plans=(PlanSpec(code="BACKUP_STANDARD", name="Backup Standard", price_per_license=Decimal("3.00"),
                        billing_period="MONTHLY", included_storage_gb=50, trial_days=30, rank=1,
                        storage_price_per_gb=Decimal("0.10")),),
        add_ons=(AddOnSpec(code="BACKUP_EXTRA_GB", name="Backup extra storage", unit_price=Decimal("0.10"),
                           billing="PREPAID", unit="GB"),))

The plugin answers ``gateway_catalog()`` (``schema/catalog/hookspecs.py``) with ``[CATALOG]``;
``gateway catalog sync`` writes what is missing (``schema.catalog.service.sync_catalog``).
Every value is checked when the object is made, so a wrong declaration stops the plugin's
import with a message naming the code (and the host names the plugin that failed to load):
codes UPPER_SNAKE, a supported ISO 4217 currency, billing period MONTHLY or YEARLY, add-on
billing PREPAID or POSTPAID, money a ``Decimal`` that is not negative and has at most four
decimals (the database's scale), counts whole and not negative.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from schema.common import CURRENCY_CODES

BILLING_PERIODS = ("MONTHLY", "YEARLY")
ADD_ON_BILLINGS = ("PREPAID", "POSTPAID")
CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
# The columns' widths (schema/models.py): a longer value would fail only when written.
CODE_LENGTH = {"product": 40, "plan": 60, "add-on": 60}
NAME_LENGTH = 200
UNIT_LENGTH = 40
MONEY_DECIMALS = 4


class CatalogDeclarationError(ValueError):
    """A catalog declaration that cannot be written as it stands; the message names the code and the value."""


def _fail(kind: str, code: object, problem: str) -> CatalogDeclarationError:
    return CatalogDeclarationError(f"catalog declaration of {kind} {code!r}: {problem}")


def _check_code(kind: str, code: object) -> None:
    if not isinstance(code, str) or CODE.fullmatch(code) is None:
        raise _fail(kind, code, "the code must be UPPER_SNAKE (capital letters, digits and single underscores, "
                                "starting with a letter)")
    if len(code) > CODE_LENGTH[kind]:
        raise _fail(kind, code, f"the code has more than {CODE_LENGTH[kind]} characters")


def _check_text(kind: str, code: str, field: str, value: object, limit: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise _fail(kind, code, f"{field} must be a non-empty string")
    if len(value) > limit:
        raise _fail(kind, code, f"{field} has more than {limit} characters")


def _check_money(kind: str, code: str, field: str, value: object) -> None:
    if not isinstance(value, Decimal):
        raise _fail(kind, code, f"{field} must be a Decimal (e.g. Decimal(\"4.00\")), not {type(value).__name__}")
    if not value.is_finite():
        raise _fail(kind, code, f"{field} must be a finite amount, not {value}")
    if value < 0:
        raise _fail(kind, code, f"{field} must not be negative ({value})")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MONEY_DECIMALS:
        raise _fail(kind, code, f"{field} has more than {MONEY_DECIMALS} decimals ({value})")


def _check_count(kind: str, code: str, field: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _fail(kind, code, f"{field} must be a whole number, not negative ({value!r})")


def _check_choice(kind: str, code: str, field: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _fail(kind, code, f"{field} must be {' or '.join(choices)}, not {value!r}")


def _check_currency(kind: str, code: str, value: object) -> None:
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha() or not value.isupper():
        raise _fail(kind, code, f"currency must be three capital letters (ISO 4217), not {value!r}")
    if value not in CURRENCY_CODES:
        raise _fail(kind, code, f"currency {value!r} is not a supported ISO 4217 currency "
                                f"({', '.join(sorted(CURRENCY_CODES))})")


@dataclass(frozen=True)
class PlanSpec:
    """A plan: a price per license and billing period; a higher ``rank`` is an upgrade."""

    code: str
    name: str
    price_per_license: Decimal
    billing_period: str = "MONTHLY"
    currency: str = "USD"
    included_storage_gb: int = 0
    trial_days: int = 0
    rank: int = 1
    storage_price_per_gb: Decimal = Decimal("0")

    def __post_init__(self) -> None:
        _check_code("plan", self.code)
        _check_text("plan", self.code, "name", self.name, NAME_LENGTH)
        _check_money("plan", self.code, "price_per_license", self.price_per_license)
        _check_choice("plan", self.code, "billing_period", self.billing_period, BILLING_PERIODS)
        _check_currency("plan", self.code, self.currency)
        for field in ("included_storage_gb", "trial_days", "rank"):
            _check_count("plan", self.code, field, getattr(self, field))
        _check_money("plan", self.code, "storage_price_per_gb", self.storage_price_per_gb)


@dataclass(frozen=True)
class AddOnSpec:
    """An add-on: PREPAID (charged with the plan each period) or POSTPAID (charged on recorded usage)."""

    code: str
    name: str
    unit_price: Decimal
    billing: str
    unit: str
    currency: str = "USD"

    def __post_init__(self) -> None:
        _check_code("add-on", self.code)
        _check_text("add-on", self.code, "name", self.name, NAME_LENGTH)
        _check_money("add-on", self.code, "unit_price", self.unit_price)
        _check_choice("add-on", self.code, "billing", self.billing, ADD_ON_BILLINGS)
        _check_text("add-on", self.code, "unit", self.unit, UNIT_LENGTH)
        _check_currency("add-on", self.code, self.currency)


@dataclass(frozen=True)
class ProductSpec:
    """A product with its plans and add-ons (tuples, so the declaration stays immutable)."""

    code: str
    name: str
    plans: tuple[PlanSpec, ...] = ()
    add_ons: tuple[AddOnSpec, ...] = ()

    def __post_init__(self) -> None:
        _check_code("product", self.code)
        _check_text("product", self.code, "name", self.name, NAME_LENGTH)
        for field, item_type in (("plans", PlanSpec), ("add_ons", AddOnSpec)):
            items = getattr(self, field)
            if not isinstance(items, tuple):
                raise _fail("product", self.code, f"{field} must be a tuple of {item_type.__name__}, "
                                                  f"not {type(items).__name__}")
            seen: set[str] = set()
            for item in items:
                if not isinstance(item, item_type):
                    raise _fail("product", self.code, f"{field} holds {item!r}, not a {item_type.__name__}")
                if item.code in seen:
                    raise _fail("product", self.code, f"{field} declares {item.code!r} twice")
                seen.add(item.code)
