"""What the billing part adds to the core plugin, including the built-in fake payment processor."""

from __future__ import annotations

from typing import Any

from schema.billing.processor import FAKE_PROCESSOR
from schema.billing.types import Payment

TYPES = [Payment]
EXTENSIONS: list[type] = []


def payment_processor() -> Any:
    return FAKE_PROCESSOR
