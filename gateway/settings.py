"""Settings from the environment (``GATEWAY_*``), validated once at start."""

from __future__ import annotations

from email.utils import parseaddr
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
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
    trace_hooks: bool = False  # log every plugin hook call: implementations in call order, time taken
    graphiql: bool = False
    batching: bool = False
    batching_max: int = Field(default=10, ge=1, le=100)
    demo_token_prefill: str | None = None  # GraphiQL header pre-fill, set by `make run`
    # production: no anonymous introspection, no "Did you mean" suggestions, no demo tokens or demo
    # seed, no GraphiQL (refused at start), /metrics closed to non-loopback clients without a token
    env: Literal["development", "production"] = "development"
    metrics_token: str | None = None  # when set, GET /metrics needs "Authorization: Bearer <token>"
    # background jobs (gateway/jobs.py, gateway/worker.py)
    job_retry_backoff: int = Field(default=4, ge=1, le=3600)  # a failed run waits backoff ** attempt seconds
    job_stalled_seconds: float = Field(default=60.0, ge=1, le=86400)  # a worker silent this long is dead
    job_stalled_sweep: str = "* * * * *"  # cron of the sweep that re-queues a dead worker's jobs
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)  # `gateway worker` serves /metrics here
    jobs_in_process: bool | None = None  # run jobs inside `gateway serve`; None: on with SQLite under serve
    # OpenTelemetry traces (gateway/tracing.py), exported by OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT; off by default
    otel_enabled: bool = False
    # Email (gateway.outbox): the outbox is delivered over SMTP when smtp_url is set, else logged.
    # A SecretStr: the password never shows in repr(settings), tracebacks or error messages.
    smtp_url: SecretStr | None = None  # smtp://user:pass@host:port (STARTTLS per smtp_starttls), smtps:// (TLS)
    smtp_starttls: Literal["auto", "always", "never"] = "auto"
    smtp_sender: str = "Partner Gateway <no-reply@partner-gateway.localhost>"
    smtp_timeout: float = Field(default=30.0, gt=0, le=600)  # connecting, and each SMTP command
    smtp_max_attempts: int = Field(default=8, ge=1, le=50)
    smtp_ca_file: str | None = None  # a CA bundle to trust besides the system's (a private relay's CA)
    public_url: str = "http://127.0.0.1:8000"  # where people reach this gateway: links in emails

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

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        # messages never quote the value: it holds the password
        if value is None or not value.get_secret_value().strip():
            return None
        parts = urlsplit(value.get_secret_value().strip())
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("use smtp://USER:PASSWORD@HOST:PORT (STARTTLS) or smtps://USER:PASSWORD@HOST:PORT (TLS)")
        try:
            parts.port  # noqa: B018 - a port that is not a number raises here
        except ValueError:
            raise ValueError("the port must be a number") from None
        if not parts.hostname:
            raise ValueError("the URL names no host")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("smtp_sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address or any(char in value for char in "\r\n"):
            raise ValueError("an email address, e.g. 'Partner Gateway <no-reply@example.com>'")
        return value.strip()

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("an http(s) URL, e.g. https://gateway.example.com")
        return value.strip().rstrip("/")

    @field_validator("env", mode="before")
    @classmethod
    def _env_name(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _no_development_tools_in_production(self) -> Settings:
        # refused rather than silently ignored: an operator who asked for GraphiQL should learn why it is off
        if self.is_production and self.graphiql:
            raise ValueError("GATEWAY_GRAPHIQL is a development tool and cannot be on with GATEWAY_ENV=production; "
                             "unset GATEWAY_GRAPHIQL (or use GATEWAY_ENV=development)")
        if self.is_production and self.demo_token_prefill:
            raise ValueError("GATEWAY_DEMO_TOKEN_PREFILL cannot be set with GATEWAY_ENV=production (demo tokens "
                             "are refused there)")
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; a bad value raises SettingsError naming the variable."""
    try:
        return Settings(**overrides)  # pydantic validates each value (SettingsError below)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            if not item["loc"]:  # a rule across settings: its message names the variables
                problems.append(item["msg"].removeprefix("Value error, "))
                continue
            name = "GATEWAY_" + "_".join(str(part) for part in item["loc"][:1]).upper()
            problems.append(f"{name}: {item['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
