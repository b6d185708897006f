"""Opaque bearer tokens: random, shown once, only their SHA-256 stored; and the viewer they resolve to."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.db import utcnow
from gateway.errors import Unauthenticated
from gateway.models import ApiToken, User
from gateway.sensitive import random_token

TOKEN_PREFIX = "pgw_"
STORED_PREFIX_LENGTH = 10  # kept beside the hash, so a user can tell their tokens apart
PLATFORM_ROLES = ("ADMIN", "ANALYST", "MESSAGING_SERVICE")


@dataclass(frozen=True)
class Viewer:
    """Who is asking: a user (or nobody), their platform role and their memberships.

    ``roles``: ``{scope name: {object pk: role}}``, as the ``gateway_viewer_memberships`` hooks answer
    (the host knows no scope; the part that names a scope reads it with :meth:`roles_in`).
    """

    user_id: int | None = None
    email: str | None = None
    name: str | None = None
    platform_role: str | None = None
    token_id: int | None = None
    roles: Mapping[str, Mapping[int, str]] = field(default_factory=dict)

    def roles_in(self, scope: str) -> Mapping[int, str]:
        """``{object pk: role}`` of the viewer's memberships in ``scope`` (empty when it has none)."""
        return self.roles.get(scope, {})

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def is_platform_admin(self) -> bool:
        return self.platform_role == "ADMIN"

    @property
    def is_platform_analyst(self) -> bool:
        return self.platform_role == "ANALYST"


ANONYMOUS = Viewer()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return random_token(32, prefix=TOKEN_PREFIX, stored_length=STORED_PREFIX_LENGTH)


async def issue_token(session: AsyncSession, user: User, name: str, expires_at: dt.datetime | None = None) -> tuple[ApiToken, str]:
    """Create a token for ``user``; the plain token is returned once and never stored."""
    token = new_token()
    row = ApiToken(user_id=user.id, name=name, token_hash=hash_token(token), prefix=token[:STORED_PREFIX_LENGTH], expires_at=expires_at)
    session.add(row)
    await session.flush()
    return row, token


async def get_or_create_user(session: AsyncSession, email: str, name: str | None = None,
                             platform_role: str | None = None) -> User:
    email = email.strip().lower()
    user = await session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, name=name or email.split("@")[0], platform_role=platform_role)
        session.add(user)
        await session.flush()
    elif platform_role and user.platform_role != platform_role:
        user.platform_role = platform_role
    return user


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header; any other scheme is refused."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be 'Bearer <token>'")
    return token.strip()


RoleMaps = Mapping[str, Mapping[int, str]]


async def authenticate(session: AsyncSession, token: str | None,
                       memberships: Callable[[AsyncSession, int], Awaitable[RoleMaps]]) -> Viewer:
    """Resolve a token to its viewer; no token is the anonymous viewer, a bad one is UNAUTHENTICATED.

    ``memberships(session, user_id)`` returns the viewer's role maps, ``{scope: {object pk: role}}``.
    """
    if token is None:
        return ANONYMOUS
    row = (
        await session.execute(
            select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == hash_token(token))
        )
    ).first()
    if row is None:
        raise Unauthenticated("The bearer token is unknown.")
    api_token, user = row
    if api_token.revoked_at is not None:
        raise Unauthenticated("The bearer token was revoked.")
    if api_token.expires_at is not None and api_token.expires_at <= utcnow():
        raise Unauthenticated("The bearer token has expired.")
    return Viewer(
        user_id=user.id, email=user.email, name=user.name, platform_role=user.platform_role,
        token_id=api_token.id, roles=await memberships(session, user.id),
    )
