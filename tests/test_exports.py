"""CSV exports: bearer-authenticated, scoped like the API, filtered like the API, streamed."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import tracemalloc
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from gateway.db import utcnow
from gateway.http import create_app
from schema import models
from schema.analytics.exports import CHUNK_ROWS, ORGANIZATION_COLUMNS, SUBSCRIPTION_COLUMNS
from schema.testing import build_world


def client(runtime: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://gateway")


async def export(runtime: Any, path: str, token: str | None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client(runtime) as http:
        return await http.get(path, params=params, headers=headers)


def rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def domains(response: httpx.Response) -> list[str]:
    return [row["domain"] for row in rows(response)]


@pytest.fixture
async def world(runtime: Any) -> Any:
    return await build_world(runtime)


# ---------------------------------------------------------------- authentication
@pytest.mark.parametrize("path", ["/exports/organizations.csv", "/exports/subscriptions.csv"])
async def test_without_token_is_401_json(runtime, world, path):
    response = await export(runtime, path, None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("path", ["/exports/organizations.csv", "/exports/subscriptions.csv"])
async def test_bad_token_is_401_json(runtime, world, path):
    response = await export(runtime, path, "pgw_not-a-token")
    assert response.status_code == 401
    assert response.json()["errors"][0]["message"] == "The bearer token is unknown."
    async with client(runtime) as http:
        basic = await http.get(path, headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert basic.status_code == 401


# ---------------------------------------------------------------- organizations
async def test_organizations_csv_columns_and_values(runtime, world):
    exported = rows(await export(runtime, "/exports/organizations.csv", world.tokens["platform_admin"]))
    assert list(exported[0]) == ORGANIZATION_COLUMNS
    acme = next(row for row in exported if row["domain"] == "acme.example")
    assert acme["id"] == world.org_id("acme")
    assert (acme["name"], acme["domain_verified"], acme["status"], acme["country"], acme["city"]) == \
        ("Acme Inc", "true", "ACTIVE", "US", "Town")
    assert (acme["partner_id"], acme["partner_code"]) == (world.partner_id("reseller"), "RESEL1")
    assert dt.datetime.fromisoformat(acme["created_at"]).tzinfo is not None
    direct = next(row for row in exported if row["domain"] == "direct.example")
    assert (direct["partner_id"], direct["partner_code"]) == ("", "")


@pytest.mark.parametrize("role, expected", [
    ("platform_admin", ["acme.example", "direct.example", "unverified.example"]),
    ("platform_analyst", ["acme.example", "direct.example", "unverified.example"]),
    ("reseller_admin", ["acme.example", "unverified.example"]),
    ("reseller_analyst", ["acme.example", "unverified.example"]),
    ("distributor_analyst", ["acme.example", "unverified.example"]),  # its reseller's customers
    ("other_partner_admin", []),
    ("org_member", ["acme.example"]),
    ("direct_super_admin", ["direct.example"]),
    ("messaging_service", []),
    ("no_role", []),
])
async def test_organizations_are_scoped_like_the_api(runtime, world, role, expected):
    exported = await export(runtime, "/exports/organizations.csv", world.tokens[role])
    assert sorted(domains(exported)) == expected
    query = "{ organizations(first: 100) { nodes { domain } } }"
    async with client(runtime) as http:
        api = (await http.post("/graphql", json={"query": query},
                               headers={"Authorization": f"Bearer {world.tokens[role]}"})).json()
    assert sorted(n["domain"] for n in api["data"]["organizations"]["nodes"]) == expected


@pytest.mark.parametrize("params, expected", [
    ({"country": "US,in"}, ["acme.example", "unverified.example"]),
    ({"domainVerified": "false"}, ["unverified.example"]),
    ({"search": "DIRECT"}, ["direct.example"]),
    ({"productCode": "MAIL"}, ["acme.example", "direct.example"]),
    ({"planCode": "MAIL_PREMIUM"}, []),
    ({"status": "ACTIVE"}, ["acme.example", "direct.example", "unverified.example"]),
    ({"status": "TRIAL,SUSPENDED"}, []),
])
async def test_organization_filters_as_query_parameters(runtime, world, params, expected):
    exported = await export(runtime, "/exports/organizations.csv", world.tokens["platform_analyst"], **params)
    assert sorted(domains(exported)) == expected


async def test_partner_and_date_filters(runtime, world):
    token = world.tokens["platform_analyst"]
    by_partner = await export(runtime, "/exports/organizations.csv", token, partnerId=world.partner_id("reseller"))
    assert sorted(domains(by_partner)) == ["acme.example", "unverified.example"]
    future = (utcnow() + dt.timedelta(days=1)).isoformat()
    assert domains(await export(runtime, "/exports/organizations.csv", token, createdAfter=future)) == []
    assert len(domains(await export(runtime, "/exports/organizations.csv", token, createdBefore=future))) == 3


@pytest.mark.parametrize("params, message", [
    ({"country": "XX"}, "not an ISO 3166-1"),
    ({"status": "SLEEPING"}, "`status` takes TRIAL, ACTIVE, INACTIVE, SUSPENDED"),
    ({"partnerId": "nonsense"}, "not a valid ID"),
    ({"createdAfter": "yesterday"}, "ISO 8601"),
    ({"domainVerified": "maybe"}, "true or false"),
])
async def test_bad_parameters_are_400_json(runtime, world, params, message):
    response = await export(runtime, "/exports/organizations.csv", world.tokens["platform_admin"], **params)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert message in error["message"]


# ---------------------------------------------------------------- subscriptions
async def _more_subscriptions(runtime: Any, world: Any) -> None:
    """A suspended premium subscription for the unverified organization."""
    async with runtime.sessions() as session, session.begin():
        now = utcnow()
        session.add(models.Subscription(
            organization_id=world.organizations["unverified"], product_id=world.products["MAIL"],
            plan_id=world.plans["MAIL_PREMIUM"], status="SUSPENDED", license_count=3, storage_gb=0,
            current_period_start=now, current_period_end=now + dt.timedelta(days=30)))


async def test_subscriptions_csv(runtime, world):
    await _more_subscriptions(runtime, world)
    exported = rows(await export(runtime, "/exports/subscriptions.csv", world.tokens["platform_admin"]))
    assert list(exported[0]) == SUBSCRIPTION_COLUMNS
    by_domain = {row["organization_domain"]: row for row in exported}
    assert sorted(by_domain) == ["acme.example", "direct.example", "unverified.example"]
    acme = by_domain["acme.example"]
    assert acme["id"] == world.subscription_id("acme_mail")
    assert acme["organization_id"] == world.org_id("acme")
    assert (acme["product_code"], acme["plan_code"], acme["status"], acme["license_count"], acme["auto_renew"]) == \
        ("MAIL", "MAIL_STANDARD", "ACTIVE", "10", "true")
    assert by_domain["unverified.example"]["status"] == "SUSPENDED"


@pytest.mark.parametrize("role, params, expected", [
    ("platform_analyst", {"status": "SUSPENDED"}, ["unverified.example"]),
    ("platform_analyst", {"planCode": "MAIL_STANDARD"}, ["acme.example", "direct.example"]),
    ("platform_analyst", {"country": "DE"}, ["direct.example"]),
    ("reseller_analyst", {}, ["acme.example", "unverified.example"]),
    ("reseller_admin", {"status": "ACTIVE"}, ["acme.example"]),
    ("org_super_admin", {}, ["acme.example"]),
    ("other_partner_admin", {}, []),
])
async def test_subscriptions_scoped_and_filtered(runtime, world, role, params, expected):
    await _more_subscriptions(runtime, world)
    exported = rows(await export(runtime, "/exports/subscriptions.csv", world.tokens[role], **params))
    assert sorted(row["organization_domain"] for row in exported) == expected


async def test_subscription_partner_filter(runtime, world):
    await _more_subscriptions(runtime, world)
    exported = rows(await export(runtime, "/exports/subscriptions.csv", world.tokens["platform_admin"],
                                 partnerId=world.partner_id("reseller")))
    assert sorted(row["organization_domain"] for row in exported) == ["acme.example", "unverified.example"]


# ---------------------------------------------------------------- streaming
async def _add_organizations(runtime: Any, count: int, start: int = 0) -> None:
    now = utcnow()
    async with runtime.engine.begin() as connection:
        await connection.execute(insert(models.Organization), [
            {"name": f"Bulk {i:06d}, \"quoted\"", "domain": f"bulk{i}.example", "domain_verified": True,
             "domain_verification_code": "x", "status": "ACTIVE", "country": "FR", "created_at": now}
            for i in range(start, start + count)
        ])


async def _drain(app: Any, path: str, token: str) -> tuple[int, int, int]:
    """Run one GET through the ASGI app, counting body chunks and bytes without keeping them."""
    chunks = size = 0
    status = 0

    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if requested:  # the client stays connected until the response ends
            await asyncio.Event().wait()
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal chunks, size, status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and message.get("body"):
            chunks += 1
            size += len(message["body"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "server": ("gateway", 80),
             "client": ("127.0.0.1", 1234), "headers": [(b"authorization", f"Bearer {token}".encode())]}
    await app(scope, receive, send)
    return status, chunks, size


async def test_large_exports_stream_in_chunks_with_flat_memory(runtime, world):
    app = create_app(runtime)
    token = world.tokens["platform_admin"]
    await _add_organizations(runtime, 2 * CHUNK_ROWS)
    tracemalloc.start()
    try:
        status, chunks, small_size = await _drain(app, "/exports/organizations.csv", token)
        _, small_peak = tracemalloc.get_traced_memory()
        assert status == 200 and chunks >= 2
        await _add_organizations(runtime, 10 * CHUNK_ROWS, start=2 * CHUNK_ROWS)
        tracemalloc.reset_peak()
        status, chunks, large_size = await _drain(app, "/exports/organizations.csv", token)
        _, large_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 200 and chunks >= 12
    assert large_size > 5 * small_size
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)  # 6× the rows, about the same memory


async def test_csv_quoting_survives_commas_and_quotes(runtime, world):
    await _add_organizations(runtime, 3)
    exported = rows(await export(runtime, "/exports/organizations.csv", world.tokens["platform_admin"],
                                 search="bulk"))
    assert sorted(row["name"] for row in exported) == [f'Bulk {i:06d}, "quoted"' for i in range(3)]
