"""The hooks the organizations part declares (added by its ``gateway_add_hookspecs``) and calls."""

from __future__ import annotations

from collections.abc import Awaitable

from gateway.hookspecs import hookspec


@hookspec(firstresult=True)
def gateway_verify_domain(domain: str, expected_code: str, given_code: str) -> bool | Awaitable[bool] | None:
    """Decide whether a domain is verified (e.g. a DNS TXT check); return True/False, or None to pass on
    (without an answer the given code is compared with the expected one)."""
