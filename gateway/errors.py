"""Errors: top-level GraphQL errors with ``extensions.code``, and domain refusals that become ``userErrors``."""

from __future__ import annotations

from typing import Any

import strawberry


class GatewayError(Exception):
    """An error the client may see, with a stable ``extensions.code``."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions = {"code": self.code, **extensions}


class Unauthenticated(GatewayError):
    code = "UNAUTHENTICATED"


class Forbidden(GatewayError):
    code = "FORBIDDEN"


class NotFound(GatewayError):
    code = "NOT_FOUND"


class BadUserInput(GatewayError):
    code = "BAD_USER_INPUT"


class QueryTooComplex(GatewayError):
    code = "QUERY_TOO_COMPLEX"


class RateLimited(GatewayError):
    code = "RATE_LIMITED"


class DomainError(Exception):
    """A business rule said no. Raised by services; mutations turn it into ``userErrors``."""

    def __init__(self, code: str, message: str, field: list[str] | str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = [field] if isinstance(field, str) else field


@strawberry.type(description="A business rule refused the mutation; `field` points at the input that caused it.")
class UserError:
    field: list[str] | None
    message: str
    code: str

    @classmethod
    def from_domain(cls, error: DomainError) -> UserError:
        return cls(field=error.field, message=error.message, code=error.code)


class PluginContractError(Exception):
    """A plugin contributes something the host cannot accept; the message names the plugin."""
