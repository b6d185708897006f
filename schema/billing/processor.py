"""The built-in fake payment processor (demo and tests), registered through ``gateway_payment_processor``.

A processor has one method, ``charge(token, amount, description, idempotency_key, currency)``
(called with keywords; may be async), that returns the processor's reference of the charge
or raises :class:`PaymentDeclined`. A deployment plugs a real one in by implementing the hook.

An idempotency key the processor already charged answers that charge's reference. Asked again
with the same key and another amount or currency, a processor raises :class:`IdempotencyKeyReused`
with what it charged under the key (it never charges the key twice, nor answers as if it charged
the new amount): the caller records the charge that was made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from decimal import Decimal
from typing import Protocol

DECLINED_TOKEN = "tok_decline"


class PaymentDeclined(Exception):
    """The processor refused the charge; the message is safe to show to the user."""


class IdempotencyKeyReused(Exception):
    """The key was charged before with another amount or currency: what was charged then."""

    def __init__(self, reference: str, amount: Decimal, currency: str) -> None:
        super().__init__(f"idempotency key already charged {amount} {currency} ({reference})")
        self.reference, self.amount, self.currency = reference, amount, currency


class PaymentProcessor(Protocol):
    """What ``gateway_payment_processor`` answers: charges a card token, returns the charge's reference."""

    def charge(self, token: str, amount: Decimal, description: str, idempotency_key: str | None = None,
               currency: str = "USD") -> str | Awaitable[str]: ...


class FakePaymentProcessor:
    """Accepts every token except ``tok_decline``; the same idempotency key gives the same reference (the demo's
    processor is shared by every test database, so it does not compare the amount)."""

    def __init__(self) -> None:
        self.charges: list[dict[str, object]] = []
        self._by_key: dict[str, str] = {}

    def charge(self, token: str, amount: Decimal, description: str, idempotency_key: str | None = None,
               currency: str = "USD") -> str:
        if token == DECLINED_TOKEN:
            raise PaymentDeclined("The card was declined by the bank.")
        if idempotency_key and idempotency_key in self._by_key:
            return self._by_key[idempotency_key]
        seed = f"{token}:{amount}:{currency}:{description}:{idempotency_key}:{len(self.charges)}"
        reference = "fake_ch_" + hashlib.sha256(seed.encode()).hexdigest()[:20]
        self.charges.append({"token": token, "amount": amount, "currency": currency,
                             "description": description, "reference": reference})
        if idempotency_key:
            self._by_key[idempotency_key] = reference
        return reference


FAKE_PROCESSOR = FakePaymentProcessor()
