"""Finding card numbers and CVVs however they are written (gateway.sensitive), and keeping them out of logs."""

from __future__ import annotations

import io
import logging

import pytest
import structlog

from gateway.logging import configure_logging
from gateway.sensitive import (
    contains_card_number,
    contains_cvv,
    find_card_data,
    luhn_valid,
    mask_card_number,
    redact_card_data,
)

VISA, MASTERCARD, AMEX = "4111111111111111", "5555555555554444", "378282246310005"

# The same Visa test number with every kind of thing between its digits.
SEPARATED = {
    "plain": "4111111111111111",
    "spaces": "4111 1111 1111 1111",
    "dots": "4111.1111.1111.1111",
    "dashes": "4111-1111-1111-1111",
    "slashes": "4111/1111/1111/1111",
    "underscores": "4111_1111_1111_1111",
    "commas": "4111,1111,1111,1111",
    "colons": "4111:1111:1111:1111",
    "pipes and spaces": "4111 | 1111 | 1111 | 1111",
    "nbsp": "4111\u00a01111\u00a01111\u00a01111",
    "narrow nbsp": "4111\u202f1111\u202f1111\u202f1111",
    "ideographic space": "4111\u30001111\u30001111\u30001111",
    "line and paragraph separators": "4111\u20281111\u20291111\u20281111",
    "tab and newlines": "4111\t1111\n1111\r\n1111",
    "zero-width space": "4111\u200b1111\u200b1111\u200b1111",
    "zero-width joiners": "4\u200d1\u200c1\u200d1\u20601111\ufeff1111\u200b1111",
    "zero width between every digit": "\u200b".join(VISA),
    "soft hyphens": "4111\u00ad1111\u00ad1111\u00ad1111",
    "combining marks": "4\u03011\u030111111111111111",
    "en and em dashes": "4111\u20131111\u20141111\u20151111",
    "bullets": "4111\u20221111\u00b71111\u20271111",
    "katakana long sound": "4111\u30fc1111\u30fc1111\u30fc1111",
    "full-width digits": "\uff14\uff11\uff11\uff11\uff0d\uff11\uff11\uff11\uff11\uff0d\uff11\uff11\uff11\uff11\uff0d\uff11\uff11\uff11\uff11",
    "arabic-indic digits": "\u0664\u0661\u0661\u0661 \u0661\u0661\u0661\u0661 \u0661\u0661\u0661\u0661 \u0661\u0661\u0661\u0661",
    "devanagari digits": "\u096a\u0967\u0967\u0967\u0967\u0967\u0967\u0967\u0967\u0967\u0967\u0967\u0967\u0967\u0967\u0967",
    "superscripts": "\u2074\u00b9\u00b9\u00b9 \u00b9\u00b9\u00b9\u00b9 \u00b9\u00b9\u00b9\u00b9 \u00b9\u00b9\u00b9\u00b9",
    "mixed scripts": "4\uff11\u0661\u096711111111111 1",
    "odd grouping": "41 111 11111 11111 1",
    "in a sentence": "my card is 4111-1111-1111-1111, exp 12/29",
    "glued to letters": "Visa4111111111111111exp",
    "between other numbers": "ref 12 4111 1111 1111 1111 99 00",
}


@pytest.mark.parametrize("name", list(SEPARATED))
def test_a_card_number_is_found_whatever_separates_its_digits(name: str) -> None:
    assert contains_card_number(SEPARATED[name]), name


@pytest.mark.parametrize("number", [VISA, MASTERCARD, AMEX, "6011111111111117", "3530111333300000",
                                    "30569309025904", "6200000000000005", "4222222222222",
                                    "6304000000000000000"])  # 13 to 19 digits
def test_every_length_from_13_to_19(number: str) -> None:
    assert luhn_valid(number) and contains_card_number(number)
    assert contains_card_number(" ".join(number[i:i + 4] for i in range(0, len(number), 4)))


# Normal text must stay usable: numbers that are not card numbers.
NOT_CARD_NUMBERS = [
    "4111111111111112",  # fails Luhn
    "4111 1111 1111 1112",
    "411111111111",  # 12 digits: too short
    "41111111111111111111",  # 20 unbroken digits: an identifier, not a card
    "+1 (555) 123-4567",
    "+86 138 0010 0002",  # a phone number whose digits (8613800100002) happen to pass Luhn
    "+44 20 7946 0958",
    "Order ORD-1234567890123 shipped",  # 13 digits, not Luhn-valid
    "order 1234567890123",
    "2024-01-05",
    "2024-01-05 10:30:00",
    "2026-12-02 03:20:13.123456",  # 20 digits of date and time
    "2024-01-05, 2024-02-05, 2024-03-05",
    "from 05/01/2024 to 05/02/2024",
    "1,234,567.89 USD",
    "192.168.100.200:8080",
    "550e8400-e29b-41d4-a716-446655440000",  # a UUID
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # a SHA-256
    "tok_visa_4242",
    "version 10.2.3 build 4567",
    "Invoice 2024-0001 for 12 seats at 4.00",
    "4111 ...... 1111 1111 1111",  # too much between two digits to read as one number
    "",
]


@pytest.mark.parametrize("text", NOT_CARD_NUMBERS)
def test_normal_numbers_are_not_card_numbers(text: str) -> None:
    assert not contains_card_number(text), text


@pytest.mark.parametrize("text", ["CVV 123", "cvv: 1234", "CVC2=987", "security code 123", "Card Verification Value 999",
                                  "c\u200bvv 123", "\uff43\uff56\uff56\uff1a\uff11\uff12\uff13", "csc-4321"])
def test_a_labelled_cvv_is_found(text: str) -> None:
    assert contains_cvv(text)


@pytest.mark.parametrize("text", ["room 123", "cvv", "123 cvv", "the CV is 123 pages", "recvv 123", "cvv 12345"])
def test_other_three_digit_numbers_are_not_cvvs(text: str) -> None:
    assert not contains_cvv(text)


def test_find_card_data_gives_the_path_inside_json() -> None:
    assert find_card_data({"widgets": [{"title": "ok"}, {"title": "4111_1111_1111_1111"}]}) == ("widgets", "1", "title")
    assert find_card_data({"policy": {"4111 1111 1111 1111": "key"}}) == ("policy",)  # never the key itself
    assert find_card_data([1, 2, int(VISA)]) == ("2",)
    assert find_card_data(float(VISA)) == ()
    # JSON text whose separators are escapes: looked into
    assert find_card_data('{"a": "4111\\u00a01111\\u00a01111\\u00a01111"}') == ("a",)
    assert find_card_data({"widgets": [{"row": 1, "column": 2, "title": "Mail 2024"}]}) is None
    assert find_card_data(None) is None and find_card_data(True) is None


def test_masking_keeps_first_six_and_last_four() -> None:
    assert mask_card_number(VISA) == "411111******1111"
    assert mask_card_number(AMEX) == "378282*****0005"
    assert redact_card_data("paid with 4111.1111.1111.1111 cvv 123, ref 42") == "paid with 411111******1111 cvv ***, ref 42"
    assert redact_card_data("nothing here 2024-01-05") == "nothing here 2024-01-05"


@pytest.mark.parametrize("as_json", [True, False])
def test_no_log_line_carries_a_card_number(as_json: bool) -> None:
    stream = io.StringIO()
    configure_logging("INFO", json=as_json, stream=stream)
    try:
        logging.getLogger("test.cards").info("card %s and cvv: 321", SEPARATED["nbsp"])
        structlog.get_logger("test.cards").info("update", holder=SEPARATED["zero-width space"],
                                                nested={"a": [SEPARATED["dots"]]}, number=int(MASTERCARD))
        try:
            raise ValueError(f"refused {SEPARATED['full-width digits']}")
        except ValueError:
            logging.getLogger("test.cards").exception("failed")
    finally:
        configure_logging("INFO")  # back to stderr for the other tests
    output = stream.getvalue()
    assert output.count("411111******1111") >= 4 and "555555******4444" in output and "***" in output
    for line in output.splitlines():
        assert not contains_card_number(line.encode().decode("unicode_escape") if as_json else line), line
        assert not contains_cvv(line), line


# ---------------------------------------------------------------- random values never look like card data
def test_random_token_draws_again_when_a_draw_looks_like_card_data(monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.sensitive as sensitive

    draws = iter(["4111111111111111", "0123456789abcdef"])  # 16 hex characters: the first is a card number
    monkeypatch.setattr(sensitive.secrets, "token_hex", lambda nbytes: next(draws))
    assert sensitive.random_token(8, prefix="pgw-verify-", hex=True) == "pgw-verify-0123456789abcdef"


def test_random_token_checks_the_stored_prefix_too(monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.sensitive as sensitive

    # "pgw_cvv12345x" is clean (five digits are no CVV) but its stored prefix "pgw_cvv123" is a labelled CVV
    draws = iter(["cvv12345xyz", "CVv004abcde", "abcdefghijk"])
    monkeypatch.setattr(sensitive.secrets, "token_urlsafe", lambda nbytes: next(draws))
    assert sensitive.find_card_data("pgw_cvv12345xyz") is None
    assert sensitive.random_token(32, prefix="pgw_", stored_length=10) == "pgw_abcdefghijk"


def test_generated_codes_and_tokens_are_never_card_data() -> None:
    """Before random_token, about 1 in 2,200 domain verification codes was refused as a card number."""
    from gateway.auth import STORED_PREFIX_LENGTH, new_token
    from gateway.sensitive import find_card_data, random_token

    codes = [random_token(8, prefix="pgw-verify-", hex=True) for _ in range(20_000)]
    tokens = [new_token() for _ in range(5_000)]
    assert [code for code in codes if find_card_data(code) is not None] == []
    assert [t for t in tokens if find_card_data(t) is not None or find_card_data(t[:STORED_PREFIX_LENGTH])] == []


def test_every_random_value_is_drawn_by_random_token() -> None:
    """The class of bug: a new random token drawn with `secrets` directly could look like card data again."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    offenders = []
    for folder in ("gateway", "schema", "plugins"):
        for path in (root / folder).rglob("*.py"):
            if "tests" in path.parts or path == root / "gateway" / "sensitive.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "secrets"
                        and node.attr.startswith("token_")):
                    offenders.append(f"{path.relative_to(root)}:{node.lineno} secrets.{node.attr}")
    assert offenders == [], "draw random tokens with gateway.sensitive.random_token:\n" + "\n".join(offenders)


def test_logs_never_show_an_api_token_or_a_webhook_secret() -> None:
    """Whatever logs it (a database driver at DEBUG prints statement values): the prefix stays, the rest goes."""
    from gateway.sensitive import redact_value

    event = {"event": "INSERT ... ('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'pgw_abc123DEF456ghi789')",
             "args": ["Bearer pgw_abc123DEF456ghi789", {"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}]}
    masked = redact_value(event)
    assert masked == {"event": "INSERT ... ('whsec_[redacted]', 'pgw_[redacted]')",
                      "args": ["Bearer pgw_[redacted]", {"secret": "whsec_[redacted]"}]}
    assert redact_value("a pgw_ prefix alone, mypgw_x, and text") == "a pgw_ prefix alone, mypgw_x, and text"
