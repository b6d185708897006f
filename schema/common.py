"""Types shared by every part of the core graph: money, addresses, enums, ordering."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TypeVar

import strawberry

from gateway.demo import DemoData
from gateway.errors import DomainError

CENTS = Decimal("0.01")
T = TypeVar("T")


def required(found: Sequence[T | None], what: str) -> list[T | Exception]:
    """Batch results of a non-null field read by a non-null foreign key: a missing object (only a broken
    database) is an error for that parent alone, saying what is missing, where None would fail the same way
    with "Cannot return null" and nothing for the type checker to hold on to."""
    return [item if item is not None else RuntimeError(f"{what} is missing") for item in found]


def round_money(amount: Decimal) -> Decimal:
    """Round to the cent, half away from zero (the documented rounding of every charge and line)."""
    return amount.quantize(CENTS, rounding=ROUND_HALF_UP)


@strawberry.type(description="An amount of money in one currency (ISO 4217).")
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, amount: Decimal, currency: str) -> Money:
        return cls(amount=round_money(Decimal(amount)), currency=currency)


@strawberry.input(description="An amount of money: a decimal string and an ISO 4217 currency code.")
class MoneyInput:
    amount: Decimal
    currency: str


@strawberry.type
class Address:
    line1: str | None = None
    line2: str | None = None
    line3: str | None = None
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2")


@strawberry.input
class AddressInput:
    line1: str | None = None
    line2: str | None = None
    line3: str | None = None
    city: str | None = None
    postal_code: str | None = None
    state: str | None = None
    country: str | None = None


@strawberry.enum
class OrderDirection(enum.Enum):
    ASC = "ASC"
    DESC = "DESC"


@strawberry.enum
class AccessVia(enum.Enum):
    MEMBERSHIP = "MEMBERSHIP"
    PARTNER_ADMIN = "PARTNER_ADMIN"
    PARTNER_MAPPING = "PARTNER_MAPPING"
    DEVELOPER_ACCESS = "DEVELOPER_ACCESS"
    ANALYST = "ANALYST"
    PLATFORM = "PLATFORM"


@strawberry.enum
class PartnerRole(enum.Enum):
    PARTNER_ADMIN = "PARTNER_ADMIN"
    PARTNER_ANALYST = "PARTNER_ANALYST"
    DEVELOPER = "DEVELOPER"


@strawberry.enum
class OrganizationRole(enum.Enum):
    SUPER_ADMIN = "SUPER_ADMIN"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


@strawberry.enum
class CardOwner(enum.Enum):
    RESELLER_CARD = "RESELLER_CARD"
    CUSTOMER_CARD = "CUSTOMER_CARD"


# ISO 3166-1 alpha-2 codes (officially assigned).
COUNTRY_CODES = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO
JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR
MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV
TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
""".split())

CURRENCY_CODES = frozenset("USD EUR GBP JPY INR AUD CAD CHF CNY SGD HKD NZD SEK NOK DKK BRL MXN ZAR KRW".split())


def validate_country(country: str | None, field: list[str] | str = "country") -> str | None:
    if country is None or country == "":
        return None
    code = country.strip().upper()
    if code not in COUNTRY_CODES:
        raise DomainError("INVALID_COUNTRY", f"{country!r} is not an ISO 3166-1 alpha-2 country code (e.g. US, DE, IN)", field)
    return code


ADDRESS_FIELDS = ("line1", "line2", "line3", "city", "postal_code", "state", "country")


def clean_name(name: str | None, field: str = "name") -> str:
    """An organization's or a partner's name: required, at most 200 characters, trimmed."""
    cleaned = (name or "").strip()
    if not cleaned:
        raise DomainError("NAME_REQUIRED", "A name is required.", field)
    if len(cleaned) > 200:
        raise DomainError("NAME_TOO_LONG", "A name has at most 200 characters.", field)
    return cleaned


def clean_address(address: AddressInput | None, field: str = "address") -> dict[str, str | None]:
    """An ``AddressInput`` as column values: trimmed, empty parts None, the country an ISO code."""
    values: dict[str, str | None] = {}
    for name in ADDRESS_FIELDS:
        value = getattr(address, name, None)
        value = value.strip() if isinstance(value, str) else value
        if value and len(value) > 200:
            raise DomainError("ADDRESS_TOO_LONG", f"{name} has at most 200 characters.", [field, name])
        values[name] = value or None
    values["country"] = validate_country(values["country"], [field, "country"])
    return values


def parse_money(amount: object, currency: str, field: str = "amount") -> tuple[Decimal, str]:
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise DomainError("INVALID_AMOUNT", f"{amount!r} is not a decimal amount", field) from None
    if not value.is_finite():
        raise DomainError("INVALID_AMOUNT", "the amount must be a finite number", field)
    code = currency.strip().upper()
    if code not in CURRENCY_CODES:
        raise DomainError("INVALID_CURRENCY", f"{currency!r} is not a supported ISO 4217 currency", "currency")
    return value, code


# The kinds of rows the core's demo seeders record in the host's DemoData (``demo.pks_of(kind)``).
DEMO_PARTNERS = "partners"  # by partner code
DEMO_ORGANIZATIONS = "organizations"  # by domain


def seeded_partners(demo: DemoData) -> dict[str, int]:
    """The demo partners seeded so far, ``{partner code: pk}``."""
    return demo.pks_of(DEMO_PARTNERS)


def seeded_organizations(demo: DemoData) -> dict[str, int]:
    """The demo organizations seeded so far, ``{domain: pk}``."""
    return demo.pks_of(DEMO_ORGANIZATIONS)
