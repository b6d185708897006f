"""The plugin's settings (environment variables ``GATEWAY_DESK_IM_*``), validated when the gateway starts.

``GATEWAY_DESK_IM_CREDIT_PRICE``     price of one credit, a decimal (default "0.05")
``GATEWAY_DESK_IM_CURRENCY``         ISO 4217 currency of that price (default USD)
``GATEWAY_DESK_IM_MAX_PURCHASE``     most credits one purchase may buy (default 100000)
``GATEWAY_DESK_IM_CHARGED_CHANNELS`` comma list of channels that consume one credit per message
                                     (default WHATSAPP; the others are free and only recorded)
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from schema.common import CURRENCY_CODES

CHANNELS = ("WHATSAPP", "TELEGRAM", "LINE", "WECHAT", "FACEBOOK_MESSENGER", "INSTAGRAM")


class DeskImSettingsError(Exception):
    """A GATEWAY_DESK_IM_* variable has a value the plugin cannot run with; the message names it."""


class DeskImSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_DESK_IM_", extra="ignore")

    credit_price: Decimal = Field(default=Decimal("0.05"), gt=0, max_digits=12, decimal_places=4)
    currency: str = "USD"
    max_purchase: int = Field(default=100_000, ge=1, le=100_000_000)
    charged_channels: Annotated[frozenset[str], NoDecode] = frozenset({"WHATSAPP"})

    @field_validator("credit_price", mode="before")
    @classmethod
    def _no_float(cls, value: object) -> object:
        # a float literal would carry binary noise into every charge
        return str(value) if isinstance(value, float) else value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in CURRENCY_CODES:
            raise ValueError(f"{value!r} is not a supported ISO 4217 currency")
        return code

    @field_validator("charged_channels", mode="before")
    @classmethod
    def _channels(cls, value: object) -> object:
        if isinstance(value, str):
            value = [item.strip().upper() for item in value.split(",") if item.strip()]
        unknown = sorted(set(value) - set(CHANNELS)) if isinstance(value, (list, set, frozenset, tuple)) else []
        if unknown:
            raise ValueError(f"unknown channel(s) {', '.join(unknown)}; known: {', '.join(CHANNELS)}")
        return value


def load_desk_im_settings(**overrides: Any) -> DeskImSettings:
    """Read and validate the settings; a bad value raises DeskImSettingsError naming the variable."""
    try:
        return DeskImSettings(**overrides)
    except ValidationError as error:
        problems = [f"GATEWAY_DESK_IM_{str(item['loc'][0]).upper()}: {item['msg']}" for item in error.errors()]
        raise DeskImSettingsError("invalid desk_im settings: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def desk_im_settings() -> DeskImSettings:
    """The process's settings, read once (tests pass their own DeskImSettings to the service instead)."""
    return load_desk_im_settings()
