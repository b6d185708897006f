"""Finding card numbers (and CVVs) in any text, however the digits are dressed up.

A card number (PAN) is 13 to 19 digits that pass the Luhn check. People and attackers write
them with anything between the digits: spaces, dots, dashes, slashes, underscores, NBSP,
zero-width spaces and joiners, soft hyphens, full-width or other scripts' digits. So the text
is first reduced to a *skeleton* of the same length, one character per character:

- a digit of any script (after NFKC: full-width ``４``, superscript ``¹``, circled ``①``) -> that ASCII digit;
- an invisible format or combining character (Unicode Cf, Mn, Me, Cn) -> ``IGNORED``, which
  never separates anything;
- a letter (except modifier letters such as ``ー``) or another kind of number -> ``a``, which ends a run;
- anything else (spaces of every kind, punctuation, symbols, controls) -> a separator.

A *run* is digits joined by at most ``MAX_GAP`` visible separators each. In a run, any
consecutive groups of digits adding up to 13-19 (the whole run included) that pass Luhn are a
card number, so a number beside or between other numbers is found too. Runs whose
digit groups are glued to letters (``Visa4111…``) count as well.

To keep normal text usable, machine identifiers and common number formats are not runs:
UUIDs, hexadecimal digests (20+ hex characters with a letter), ISO dates and clock times,
phone numbers written with a ``+`` and a country code of 1-3 digits, and IPv4 addresses (with a port).

A CVV is recognised by its label (``CVV 123``, ``cvc2: 1234``, ``security code 123``).
"""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
from collections.abc import Iterator, MutableMapping
from decimal import Decimal
from functools import lru_cache
from typing import Any

MIN_DIGITS, MAX_DIGITS = 13, 19
MAX_GAP = 5  # visible separator characters between two digits of one run
IGNORED = "\x00"

# Not card numbers although they are digits between separators.
_NOT_RUNS = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # UUID
    r"|(?<![0-9A-Za-z])(?=[0-9]*[a-fA-F])[0-9a-fA-F]{20,}(?![0-9A-Za-z])"  # hex digest
    r"|(?<![0-9])(?:19|20)[0-9]{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])(?![0-9])"  # ISO date
    r"|(?<![0-9])(?:[01]?[0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.,][0-9]{1,9})?)?(?![0-9])"  # clock time
    r"|(?<![0-9+])\+[0-9]{1,3}(?=[ .()-])"  # the country code of a phone number
    r"|(?<![0-9.])(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})\.){3}(?:25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})"
    r"(?::[0-9]{1,5})?(?![0-9.])"  # an IPv4 address, with its port
)
_SEPARATOR = rf"[^0-9A-Za-z{IGNORED}]"
# A gap between two digit groups: invisible characters, and at most MAX_GAP visible separators.
_GAP = rf"(?:{IGNORED}+(?:{_SEPARATOR}{IGNORED}*){{0,{MAX_GAP}}}|(?:{_SEPARATOR}{IGNORED}*){{1,{MAX_GAP}}})"
_RUN = re.compile(rf"[0-9]+(?:{_GAP}[0-9]+)*")
# Cheap first look for plain ASCII text: 13 digits, each within MAX_GAP + 1 characters of the next.
_MAYBE_PAN = re.compile(rf"[0-9](?:[^0-9]{{0,{MAX_GAP}}}[0-9]){{{MIN_DIGITS - 1}}}")
_CVV_HINT = re.compile(r"(?i)cv|cav|csc|security|verification")  # cheap first look for plain ASCII text
_CVV = re.compile(
    r"(?i)(?<![a-z])(?:cvv2?|cvc2?|cav2|csc|card\s*(?:verification|security)\s*(?:value|code)|security\s*code)"
    r"(?![a-z])\W{0,5}([0-9]{3,4})(?![0-9])"
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


@lru_cache(maxsize=4096)
def _skeleton_char(char: str) -> str:
    if char.isascii():
        return char
    normal = unicodedata.normalize("NFKC", char)
    if len(normal) == 1 and normal.isascii():
        if normal.isdigit() or normal.isalpha():
            return normal
    value = unicodedata.decimal(char, None)
    if value is None and len(normal) == 1:
        value = unicodedata.decimal(normal, None)
    if value is not None:
        return str(value)
    category = unicodedata.category(char)
    if category in ("Cf", "Mn", "Me", "Cn"):
        return IGNORED
    if category[0] in ("L", "N") and category != "Lm":  # modifier letters (ー) look like dashes
        return "a"
    return " "


def skeleton(text: str) -> str:
    """``text`` with one character per character: ASCII digits, ``a`` for letters, separators, IGNORED."""
    base = text if text.isascii() else "".join(map(_skeleton_char, text))
    return _NOT_RUNS.sub(lambda match: "a" * len(match.group()), base)


def _candidates(run: str) -> Iterator[str]:
    """The digit strings of a run that could be a card number: all of it, or consecutive groups of it.

    Sub-runs are tried even when the whole run is short enough to be one number: a card number with
    another number beside it ("order 12: 4111 1111 1111 1111", "4111111111111111 1") is still one."""
    groups = re.findall(r"[0-9]+", run)
    for start in range(len(groups)):
        joined = ""
        for group in groups[start:]:
            joined += group
            if len(joined) > MAX_DIGITS:
                break
            if len(joined) >= MIN_DIGITS:
                yield joined


def find_card_numbers(text: str) -> list[tuple[int, int, str]]:
    """Every card number in ``text``: (start, end, digits), positions in ``text`` itself."""
    if not text or (text.isascii() and not _MAYBE_PAN.search(text)):
        return []
    found = []
    for match in _RUN.finditer(skeleton(text)):
        for digits in _candidates(match.group()):
            if MIN_DIGITS <= len(digits) and luhn_valid(digits):
                found.append((match.start(), match.end(), digits))
                break
    return found


def contains_card_number(text: str) -> bool:
    return bool(find_card_numbers(text))


def contains_cvv(text: str) -> bool:
    """True when ``text`` labels a 3-4 digit number as a CVV / CVC / security code."""
    if not text or (text.isascii() and not _CVV_HINT.search(text)):
        return False
    return bool(_CVV.search(skeleton(text).replace(IGNORED, "")))


def contains_card_data(text: str) -> bool:
    return contains_card_number(text) or contains_cvv(text)


def mask_card_number(digits: str) -> str:
    """The first 6 and last 4 digits, the rest as ``*`` (what a card may show): 411111******1111."""
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def redact_card_data(text: str) -> str:
    """``text`` with every card number masked (first 6 / last 4) and every labelled CVV as ``***``."""
    if not isinstance(text, str) or not text:
        return text
    found = find_card_numbers(text)
    for start, end, digits in reversed(found):
        text = text[:start] + mask_card_number(digits) + text[end:]
    if any(char.isdigit() for char in text) and contains_cvv(text):
        text = _redact_cvv(text)
    return text


def _redact_cvv(text: str) -> str:
    base = skeleton(text)
    if IGNORED in base:  # drop the invisible characters so positions match the pattern's
        text = "".join(char for char, mapped in zip(text, base, strict=True) if mapped != IGNORED)
        base = base.replace(IGNORED, "")
    for match in reversed(list(_CVV.finditer(base))):
        text = text[:match.start(1)] + "***" + text[match.end(1):]
    return text


def json_container(text: str) -> Any:
    """The decoded object or array when ``text`` is one, else None."""
    if text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        decoded = json.loads(text)
    except ValueError:
        return None
    return decoded if isinstance(decoded, (dict, list)) else None


def find_card_data(value: Any, path: tuple[str, ...] = (), *, json_text: bool = False) -> tuple[str, ...] | None:
    """The path of the first string (or number, or key) in ``value`` holding card data; None if clean.

    ``value`` may be text, a number (int, float, Decimal) or nested dicts and lists (JSON). With
    ``json_text`` (a JSON column's serialized parameter), a string that is a JSON object or array is
    decoded and walked instead: escaped separators (``\\u00a0``) cannot hide a number, and a list of
    small numbers is not read as one long number. Any other string, the strings inside that JSON
    included, is text: read as it would be displayed (``[4111, 1111, 1111, 1111]`` typed into a name
    is a card number), and, when it parses as JSON, item by item as well.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        value = int(value) if value.is_integer() else repr(value)
    if isinstance(value, Decimal):  # amounts: a 13-14 digit one fits a Numeric(18, 4) column
        value = int(value) if value.is_finite() and value == value.to_integral_value() else format(value, "f")
    if isinstance(value, int):
        return path if contains_card_number(str(value)) else None
    if isinstance(value, str):
        decoded = json_container(value)
        if decoded is not None and json_text:  # each string and number on its own: ids in a list are not one run
            return find_card_data(decoded, path)
        if contains_card_data(value):
            return path
        return find_card_data(decoded, path) if decoded is not None else None  # escapes hide nothing either
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and contains_card_data(key):
                return path  # the object holding the key: the key itself is never echoed
            found = find_card_data(item, (*path, str(key)))
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = find_card_data(item, (*path, str(index)))
            if found is not None:
                return found
    return None


CARD_NUMBER_MESSAGE = (
    "This looks like a card number or a card security code (CVV). Card data is never stored: remove it. "
    "To set a card, tokenize it with the payment processor and send only its token, brand, last 4 digits "
    "and expiry.")



# ---------------------------------------------------------------- random values
def random_token(nbytes: int = 32, *, prefix: str = "", hex: bool = False, stored_length: int | None = None) -> str:
    """A random token or code (``secrets``) that the card-data detector cannot mistake for card data.

    Every random value the gateway stores or shows is drawn here. A random value can look like card
    data by chance: ``pgw-verify-`` followed by 16 hex characters holds 13+ Luhn-valid digits in a row
    about once in 2,200 draws, and a base64 token may read ``_CVv004`` (a labelled CVV). The write
    guard would then refuse an ordinary write, and logs would mask part of a token. So a value with
    card data in it (or in its first ``stored_length`` characters, the part kept as a token's prefix)
    is drawn again.
    """
    for _ in range(100):
        body = secrets.token_hex(nbytes) if hex else secrets.token_urlsafe(nbytes)
        value = prefix + body
        views = (value, value[:stored_length]) if stored_length else (value,)
        if all(find_card_data(view) is None for view in views):
            return value
    raise RuntimeError("no random value free of card-like data in 100 draws")  # (< 1e-100 for the sizes used)


# ---------------------------------------------------------------- logs
# Credentials the gateway hands out, by their published prefixes: API tokens (``pgw_``) and Standard
# Webhooks signing secrets (``whsec_``). A log line never shows one, whatever logged it (a driver at DEBUG).
_CREDENTIALS = re.compile(r"(?<![A-Za-z0-9])(pgw_|whsec_)[A-Za-z0-9_\-+/=]{6,}")


def redact_credentials(text: str) -> str:
    """``text`` with every API token and webhook signing secret replaced by its prefix and ``[redacted]``."""
    if "pgw_" not in text and "whsec_" not in text:
        return text
    return _CREDENTIALS.sub(lambda match: f"{match.group(1)}[redacted]", text)


def redact_value(value: Any) -> Any:
    """``value`` with card data and credentials masked in every string, nested dicts, lists and tuples included."""
    if isinstance(value, str):
        return redact_credentials(redact_card_data(value))
    if isinstance(value, dict):
        return {redact_value(key): redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(item) for item in value)
    if isinstance(value, int) and not isinstance(value, bool) and contains_card_number(str(value)):
        return redact_card_data(str(value))
    return value


def redact_log_event(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A structlog processor: mask card numbers and CVVs in every value of the event (message, fields, exception)."""
    for key, value in event.items():
        if not key.startswith("_"):  # structlog's own bookkeeping (_record, _from_structlog)
            event[key] = redact_value(value)
    return event


def redacting(renderer: Any) -> Any:
    """Wrap a structlog renderer so the rendered line is masked too (a console traceback is rendered there)."""
    def render(logger: Any, name: str, event: dict[str, Any]) -> Any:
        return redact_value(renderer(logger, name, event))

    return render


# ---------------------------------------------------------------- responses
_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))")


def redact_message(message: str) -> str:
    """An error message with card data masked, also where it quotes the value as a Python ``repr``
    (graphql-core's coercion errors do: ``'4111\\u200b1111…'`` escapes what would hide the digits)."""
    if not isinstance(message, str) or not message:
        return message
    if "\\" in message:
        unescaped = _ESCAPE.sub(lambda m: chr(int(next(g for g in m.groups() if g), 16)), message)
        if unescaped != message and contains_card_data(unescaped):
            return redact_card_data(unescaped)
    return redact_card_data(message)


def redact_response_errors(body: Any) -> Any:
    """A GraphQL-over-HTTP body (or a batch of them) with card data masked in every error message.

    Errors quote what the client sent (an enum value, an ID, an unknown input field); whatever the
    path that produced them, a card number must not come back in a response, where proxies,
    browser tools and client logs keep it."""
    for item in body if isinstance(body, list) else [body]:
        if isinstance(item, dict):
            for error in item.get("errors") or []:
                if isinstance(error, dict) and isinstance(error.get("message"), str):
                    error["message"] = redact_message(error["message"])
    return body
