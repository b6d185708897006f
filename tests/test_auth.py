"""Opaque bearer tokens: random, only a hash stored; the viewer a token resolves to; demo tokens."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from gateway.auth import (
    ANONYMOUS,
    TOKEN_PREFIX,
    authenticate,
    bearer_token,
    get_or_create_user,
    hash_token,
    issue_token,
)
from gateway.db import utcnow
from gateway.demo import DemoData, demo_token, ensure_demo_token
from gateway.errors import Unauthenticated
from gateway.models import ApiToken, User
from gateway.runtime import Runtime
from gateway.testing import run_query
from schema.memberships import organization_roles, partner_roles
from schema.testing import build_world


@pytest.mark.parametrize("header, token", [
    (None, None), ("", None), ("Bearer abc", "abc"), ("bearer  abc ", "abc"),
])
def test_bearer_header(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc", "abc"])
def test_other_schemes_refused(header: str) -> None:
    with pytest.raises(Unauthenticated, match="Bearer"):
        bearer_token(header)


async def test_only_the_hash_is_stored(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        user = await get_or_create_user(session, "Someone@Example.com", "Some One")
        row, token = await issue_token(session, user, "laptop")
        other_row, other = await issue_token(session, user, "ci")
    assert token.startswith(TOKEN_PREFIX) and len(token) > 40 and token != other
    async with runtime.sessions() as session:
        stored = (await session.scalars(select(ApiToken).order_by(ApiToken.id))).all()
        email = await session.scalar(select(User.email).where(User.id == row.user_id))
    assert email == "someone@example.com"
    assert [s.token_hash for s in stored] == [hash_token(token), hash_token(other)]
    for column in ("name", "token_hash", "prefix"):
        assert all(token not in str(getattr(s, column)) for s in stored)
    assert stored[0].prefix == token[:10]


async def test_token_resolves_to_viewer_with_memberships(runtime: Runtime) -> None:
    world = await build_world(runtime)
    async with runtime.sessions() as session:
        admin = await authenticate(session, world.tokens["reseller_admin"], runtime.memberships)
        boss = await authenticate(session, world.tokens["org_super_admin"], runtime.memberships)
        platform = await authenticate(session, world.tokens["platform_admin"], runtime.memberships)
        nobody = await authenticate(session, None, runtime.memberships)
    assert admin.email == "admin@resell.example"
    assert partner_roles(admin) == {world.partners["reseller"]: "PARTNER_ADMIN"} and organization_roles(admin) == {}
    assert organization_roles(boss) == {world.organizations["acme"]: "SUPER_ADMIN"}
    assert platform.is_platform_admin and not admin.is_platform_admin
    assert nobody is ANONYMOUS and not nobody.is_authenticated


@pytest.mark.parametrize("change, message", [
    ({"revoked_at": utcnow() - dt.timedelta(seconds=1)}, "revoked"),
    ({"expires_at": utcnow() - dt.timedelta(seconds=1)}, "expired"),
])
async def test_revoked_and_expired_tokens(runtime: Runtime, change: dict, message: str) -> None:
    async with runtime.sessions() as session, session.begin():
        user = await get_or_create_user(session, "x@example.com")
        row, token = await issue_token(session, user, "t")
        await session.execute(update(ApiToken).where(ApiToken.id == row.id).values(**change))
    async with runtime.sessions() as session:
        with pytest.raises(Unauthenticated, match=message):
            await authenticate(session, token, runtime.memberships)


async def test_future_expiry_still_valid(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        user = await get_or_create_user(session, "soon@example.com")
        _, token = await issue_token(session, user, "t", utcnow() + dt.timedelta(hours=1))
    result = await run_query(runtime, "{ viewer { user { email } } }", token=token)
    assert result.ok() == {"viewer": {"user": {"email": "soon@example.com"}}}


async def test_unknown_token_is_unauthenticated(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        with pytest.raises(Unauthenticated, match="unknown"):
            await authenticate(session, "pgw_nothing", runtime.memberships)


def test_demo_tokens_are_deterministic_and_distinct() -> None:
    assert demo_token("partner_admin") == demo_token("partner_admin")
    assert demo_token("partner_admin") != demo_token("partner_analyst")
    assert demo_token("partner_admin").startswith(TOKEN_PREFIX)


async def test_demo_token_is_stored_hashed_and_revived(runtime: Runtime) -> None:
    demo = DemoData()
    async with runtime.sessions() as session, session.begin():
        user = await get_or_create_user(session, "demo@example.com")
        token = await ensure_demo_token(session, demo, user, "tester", "tests things")
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(ApiToken).values(revoked_at=utcnow()))
    async with runtime.sessions() as session, session.begin():
        again = await ensure_demo_token(session, demo, user, "tester", "tests things")
    assert again == token == demo.tokens["tester"]
    async with runtime.sessions() as session:
        rows = (await session.scalars(select(ApiToken))).all()
        viewer = await authenticate(session, token, runtime.memberships)
    assert len(rows) == 1 and rows[0].token_hash == hash_token(token) and rows[0].revoked_at is None
    assert viewer.email == "demo@example.com"
    assert demo.describe_token("tester").can == "tests things"
