"""Settings from the environment (``GATEWAY_*``), validated once at start."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./partner_gateway.db"


class SettingsError(Exception):
    """A setting has a value the gateway cannot run with; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    # Bounds on waiting for the database, so a request answers 503 instead of hanging (seconds).
    db_connect_timeout: float = Field(default=5.0, gt=0, le=300)
    db_statement_timeout: float = Field(default=30.0, gt=0, le=3600)
    db_pool_timeout: float = Field(default=5.0, gt=0, le=300)
    plugins: Annotated[list[str] | None, NoDecode] = None  # None: every installed plugin
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_depth: int = Field(default=12, ge=1, le=100)
    max_aliases: int = Field(default=30, ge=1, le=1000)
    max_tokens: int = Field(default=5000, ge=10, le=1_000_000)
    max_query_cost: int = Field(default=50_000, ge=1)
    page_size_max: int = Field(default=100, ge=1, le=10_000)
    cost_budget_per_minute: int = Field(default=500_000, ge=1)
    redis_url: str | None = None
    log_level: str = "INFO"
    graphiql: bool = False
    batching: bool = False
    batching_max: int = Field(default=10, ge=1, le=100)
    demo_token_prefill: str | None = None  # GraphiQL header pre-fill, set by `make run`

    @field_validator("plugins", "cors_origins", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            value = "sqlite+aiosqlite:///" + value.split(":///", 1)[1]
        if not (value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings; a bad value raises SettingsError naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = "GATEWAY_" + "_".join(str(part) for part in item["loc"][:1]).upper()
            problems.append(f"{name}: {item['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
