"""Input scalars that refuse what the database cannot hold, as BAD_USER_INPUT, before any resolver runs.

Strawberry's own Decimal takes ``NaN``, ``Infinity`` and ``1e400``; its DateTime takes a naive
time or one at the edge of the calendar. Each then fails deep in a resolver or the database as an
internal error. These replacements (``scalar_overrides`` of the schema) keep the same names and
wire format, so the SDL does not change; only what they accept narrows.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math

import dateutil.parser
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition, scalar

# Amounts are stored as NUMERIC(18, 4) (gateway.db.MoneyAmount): 14 integer digits, 4 decimals.
MAX_INTEGER_DIGITS = 14
MAX_DECIMAL_PLACES = 4
MAX_DECIMAL_TEXT = 64  # longer text is no amount anyone means; refuse before parsing it


class InvalidInputScalar(StrawberryInputCoercionError):
    """A scalar input value the API cannot accept; presented as BAD_USER_INPUT."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "BAD_USER_INPUT"})


def parse_decimal(value: object) -> decimal.Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InvalidInputScalar(f"Decimal must be a string such as \"12.50\", got {value!r}.")
    if isinstance(value, float) and not math.isfinite(value):  # a literal like 1e400 arrives as inf
        raise InvalidInputScalar(f"{value!r} is not a finite decimal number (too large, or not a number).")
    text = str(value).strip()
    if len(text) > MAX_DECIMAL_TEXT:
        raise InvalidInputScalar(f"Decimal has at most {MAX_DECIMAL_TEXT} characters.")
    try:
        number = decimal.Decimal(text)
    except decimal.DecimalException:
        raise InvalidInputScalar(f"{text!r} is not a decimal number (e.g. \"12.50\").") from None
    if not number.is_finite():
        raise InvalidInputScalar(f"{text!r} is not a finite decimal number.")
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # a finite number has an integer exponent ('n', 'N', 'F' are NaN and inf)
    if number.is_zero():
        return decimal.Decimal(0).quantize(number) if exponent < 0 else decimal.Decimal(0)  # no -0
    integer_digits = len(digits) + exponent
    decimal_places = max(0, -exponent)
    stripped = number.normalize()
    significant_places = max(0, -int(stripped.as_tuple().exponent))  # "1.50000" has 1 significant place
    if integer_digits > MAX_INTEGER_DIGITS:
        raise InvalidInputScalar(f"{text!r} is too large: at most {MAX_INTEGER_DIGITS} digits before the point.")
    if significant_places > MAX_DECIMAL_PLACES:
        raise InvalidInputScalar(f"{text!r} has too many decimals: at most {MAX_DECIMAL_PLACES}.")
    if decimal_places > MAX_DECIMAL_PLACES:
        number = number.quantize(decimal.Decimal(1).scaleb(-MAX_DECIMAL_PLACES))  # only trailing zeros dropped
    return number


def parse_datetime(value: object) -> dt.datetime:
    if not isinstance(value, str):
        raise InvalidInputScalar(f"DateTime must be an ISO 8601 string, got {value!r}.")
    try:
        moment = dateutil.parser.isoparse(value)
    except (ValueError, OverflowError):
        raise InvalidInputScalar(f"{value!r} is not an ISO 8601 date and time (e.g. 2025-01-31T12:00:00Z).") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInputScalar(f"{value!r} has no time zone: add Z or an offset such as +02:00.")
    try:
        moment.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise InvalidInputScalar(f"{value!r} is outside the supported range of dates.") from None
    return moment


def parse_date(value: object) -> dt.date:
    if not isinstance(value, str):
        raise InvalidInputScalar(f"Date must be a string as YYYY-MM-DD, got {value!r}.")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInputScalar(f"{value!r} is not a date as YYYY-MM-DD.") from None


def _isoformat(value: dt.date) -> str:
    return value.isoformat()


DecimalScalar: ScalarDefinition = scalar(
    name="Decimal", description="Decimal (fixed-point)", serialize=str, parse_value=parse_decimal,
)
DateTimeScalar: ScalarDefinition = scalar(
    name="DateTime", description="Date with time (isoformat)", serialize=_isoformat, parse_value=parse_datetime,
)
DateScalar: ScalarDefinition = scalar(
    name="Date", description="Date (isoformat)", serialize=_isoformat, parse_value=parse_date,
)

SCALAR_OVERRIDES = {decimal.Decimal: DecimalScalar, dt.datetime: DateTimeScalar, dt.date: DateScalar}
