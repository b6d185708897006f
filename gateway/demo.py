"""``gateway demo seed``: every plugin's demo rows in one transaction, and the demo tokens to print.

Each plugin's ``gateway_seed_demo(session, demo)`` hook is called in plugin order (the core
first) with one shared :class:`DemoData`, so later seeders find what earlier ones made
(``demo.pks_of("organizations")["acme.example"]``; the kinds are the seeders' own words).
Seeders are idempotent: they look for their rows before adding them, so seeding twice changes
nothing.

Demo tokens are derived from a fixed demo secret and a role label: the same tokens print on
every run and every machine, so a newcomer can copy them from the README's instructions.
Only their hashes are stored, like every token. They are for demo databases only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from gateway.auth import TOKEN_PREFIX, hash_token
from gateway.models import ApiToken, User
from gateway.plugins import PluginCallError, call_in_load_order

DEMO_SECRET = b"partner-gateway demo data; never use these tokens in production"
DEMO_TOKEN_PREFIX = TOKEN_PREFIX + "demo_"


@dataclass
class DemoToken:
    label: str
    token: str
    email: str
    can: str  # what this role can do, one line


@dataclass
class DemoData:
    """What the seeders made so far, by natural key; passed to every ``gateway_seed_demo`` hook."""

    pks: dict[str, dict[str, int]] = field(default_factory=dict)  # {kind: {natural key: pk}}, kinds the seeders name
    users: dict[str, int] = field(default_factory=dict)  # by email
    tokens: dict[str, str] = field(default_factory=dict)  # role label -> token to print
    extra: dict[str, Any] = field(default_factory=dict)
    token_details: dict[str, DemoToken] = field(default_factory=dict)  # label -> who and what, for printing

    def pks_of(self, kind: str) -> dict[str, int]:
        """``{natural key: pk}`` of the rows of ``kind`` seeded so far (a seeder adds to it)."""
        return self.pks.setdefault(kind, {})

    def describe_token(self, label: str) -> DemoToken:
        known = self.token_details.get(label)
        if known is not None:
            return known
        return DemoToken(label=label, token=self.tokens[label], email="", can="")


def demo_token(label: str) -> str:
    """The deterministic demo token of a role label (same on every run)."""
    digest = hmac.new(DEMO_SECRET, f"demo-token:{label}".encode(), hashlib.sha256).digest()
    return DEMO_TOKEN_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]


def is_demo_token(token: str) -> bool:
    """Whether ``token`` has a demo token's shape (prefix and length; issued tokens are longer)."""
    return token.startswith(DEMO_TOKEN_PREFIX) and len(token) == len(demo_token("any"))


def demo_roles(plugin_manager: Any) -> dict[str, str]:
    """Every demo token label the enabled plugins hand out, with what it can do."""
    roles: dict[str, str] = {}
    for answer in plugin_manager.hook.gateway_demo_roles():
        roles.update(answer or {})
    return roles


class DemoRefused(Exception):
    """Demo data or tokens were asked for where they are not allowed (GATEWAY_ENV=production)."""


def refuse_in_production(settings: Any, what: str) -> None:
    if settings.is_production:
        raise DemoRefused(f"{what} is refused with GATEWAY_ENV=production: demo tokens are public; "
                          "create real tokens with `gateway token create`")


async def ensure_demo_token(session: Any, demo: DemoData, user: User, label: str, can: str) -> str:
    """Give ``user`` the demo token of ``label`` (stored hashed; revived if it was revoked) and record it."""
    token = demo_token(label)
    digest = hash_token(token)
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None:
        session.add(ApiToken(user_id=user.id, name=f"demo {label}", token_hash=digest, prefix=token[:10]))
    elif row.revoked_at is not None or row.expires_at is not None or row.user_id != user.id:
        row.revoked_at, row.expires_at, row.user_id = None, None, user.id
    demo.tokens[label] = token
    demo.token_details[label] = DemoToken(label=label, token=token, email=user.email, can=can)
    return token


async def seed_demo(runtime: Any) -> DemoData:
    """Sync the catalog (``gateway catalog sync``), then run every enabled plugin's seeder, in plugin order,
    inside one transaction."""
    from gateway.catalog import run_catalog_seeders

    demo = DemoData()
    async with runtime.sessions() as session, session.begin():
        demo.extra["catalog"] = await run_catalog_seeders(runtime.plugin_manager, session)
        try:  # the core first, then the plugins as loaded
            await call_in_load_order(runtime.plugin_manager, "gateway_seed_demo", {"session": session, "demo": demo},
                                     after_each=session.flush)
        except PluginCallError as failed:
            raise DemoSeedError(f"plugin {failed.plugin!r} failed to seed its demo data: {failed.error}") from failed
    return demo


class DemoSeedError(Exception):
    """A seeder failed; the message names the plugin. Nothing was written."""


def format_tokens(demo: DemoData) -> str:
    """The demo tokens as aligned lines: label, user, what the role can do, token."""
    if not demo.tokens:
        return "No demo tokens were created."
    details = [demo.describe_token(label) for label in demo.tokens]
    width = max(len(d.label) for d in details)
    lines = ["Demo bearer tokens (send as 'Authorization: Bearer <token>'):", ""]
    for d in details:
        lines.append(f"  {d.label.ljust(width)}  {d.token}")
        about = " — ".join(part for part in (d.email, d.can) if part)
        if about:
            lines.append(f"  {' ' * width}  {about}")
    return "\n".join(lines)
