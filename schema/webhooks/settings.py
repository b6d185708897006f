"""Webhook settings (environment variables ``GATEWAY_WEBHOOK_*``), validated when the gateway starts.

``GATEWAY_WEBHOOK_ALLOW_PRIVATE``   1: endpoint URLs may use http and point at private, loopback or
                                    link-local addresses (tests, development). Default 0.
``GATEWAY_WEBHOOK_TIMEOUT``         seconds one attempt may take in all: resolve, connect, send, and
                                    receive the answer's status and headers (default 10)
``GATEWAY_WEBHOOK_MAX_ATTEMPTS``    attempts of one delivery before it is FAILED (default 8, at most 8)
``GATEWAY_WEBHOOK_DISABLE_AFTER``   FAILED deliveries in a row that disable an endpoint (default 5)
``GATEWAY_WEBHOOK_BATCH``           deliveries one run of the job claims at a time (default 100)
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebhookSettingsError(Exception):
    """A GATEWAY_WEBHOOK_* variable has a value the gateway cannot run with; the message names it."""


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_WEBHOOK_", extra="ignore")

    allow_private: bool = False
    timeout: float = Field(default=10.0, gt=0, le=60)
    max_attempts: int = Field(default=8, ge=1, le=8)
    disable_after: int = Field(default=5, ge=1, le=1000)
    batch: int = Field(default=100, ge=1, le=10_000)


def webhook_settings(**overrides: Any) -> WebhookSettings:
    """The settings as the environment says now (read per use: cheap, and tests change them with monkeypatch)."""
    try:
        return WebhookSettings(**overrides)
    except ValidationError as error:
        problems = [f"GATEWAY_WEBHOOK_{str(item['loc'][0]).upper()}: {item['msg']}" for item in error.errors()]
        raise WebhookSettingsError("invalid webhook settings: " + "; ".join(problems)) from None
