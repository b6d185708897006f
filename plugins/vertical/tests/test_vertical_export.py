"""GET /exports/vertical/solutions/{id}/customers.csv, read back with Python's csv module."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import httpx

from gateway.db import utcnow
from gateway.http import create_app
from gateway.relay import encode_id
from gateway.testing import run_query
from plugins.vertical.services.customers import CSV_HEADER
from plugins.vertical.tests.conftest import VerticalWorld


async def _get(runtime: Any, url: str, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(url, headers=headers)


def _rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    reader = csv.reader(io.StringIO(response.text))
    header = next(reader)
    assert header == CSV_HEADER
    return [dict(zip(header, row, strict=True)) for row in reader]


def _url(vw: VerticalWorld, query: str = "") -> str:
    return f"/exports/vertical/solutions/{vw.solution_id}/customers.csv" + (f"?{query}" if query else "")


async def test_export_has_a_header_and_one_row_per_customer(runtime: Any, vworld: VerticalWorld) -> None:
    rows = _rows(await _get(runtime, _url(vworld), vworld.tokens["developer"]))
    assert [r["domain"] for r in rows] == ["acme.example", "direct.example", "unverified.example"]
    acme = rows[0]
    assert acme["instance_id"] == vworld.instance_id("acme")
    assert (acme["plan_code"], acme["installed_version"], acme["user_type"], acme["is_test_account"]) == (
        "VERTICAL_STARTER", "1.0.0", "PAID", "false")
    assert acme["file_limit_mb"] == str(5120 + 3 * 1024)  # the VERTICAL_STORAGE add-on counts
    assert rows[2]["is_test_account"] == "true" and rows[2]["last_transaction_at"] == ""


async def test_export_filters_give_exactly_the_expected_rows(runtime: Any, vworld: VerticalWorld) -> None:
    today = utcnow().date()
    token = vworld.tokens["developer"]
    cases = [
        ("planCodes=VERTICAL_STARTER", ["acme.example"]),
        ("userTypes=FREE", ["direct.example", "unverified.example"]),
        ("appVersions=1.0.0", ["acme.example", "unverified.example"]),
        ("appVersions=1.1.0,2.0.0", ["direct.example"]),
        (f"transactionDateFrom={today - dt.timedelta(days=5)}&transactionDateTo={today}", ["acme.example"]),
        (f"transactionDateTo={today - dt.timedelta(days=30)}", ["direct.example"]),
        (f"ids={vworld.instance_id('direct')}&ids={vworld.instance_id('unverified')}",
         ["direct.example", "unverified.example"]),
        ("accountStatus=INACTIVE", []),
        ("userTypes=FREE&appVersions=1.0.0", ["unverified.example"]),
    ]
    for query, expected in cases:
        rows = _rows(await _get(runtime, _url(vworld, query), token))
        assert [r["domain"] for r in rows] == expected, query


async def test_csv_url_from_graphql_exports_the_same_filter(runtime: Any, vworld: VerticalWorld) -> None:
    data = (await run_query(runtime, """query($id: ID!, $f: SolutionCustomerFilter) {
        solution(id: $id) { customersCsvUrl(filter: $f) } }""",
        {"id": vworld.solution_id, "f": {"userTypes": ["FREE"], "ids": [vworld.instance_id("direct")]}},
        token=vworld.tokens["developer"])).ok()
    rows = _rows(await _get(runtime, data["solution"]["customersCsvUrl"], vworld.tokens["developer"]))
    assert [r["domain"] for r in rows] == ["direct.example"]


async def test_export_refusals(runtime: Any, vworld: VerticalWorld) -> None:
    missing = await _get(runtime, _url(vworld), None)
    assert missing.status_code == 401 and missing.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    bad = await _get(runtime, _url(vworld), "pgw_not-a-token")
    assert bad.status_code == 401
    for role in ("org_super_admin", "other_partner_admin", "reseller_admin", "no_role"):
        refused = await _get(runtime, _url(vworld), vworld.tokens[role])
        assert refused.status_code == 403, role
        assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    unknown = await _get(runtime, f"/exports/vertical/solutions/{encode_id('Solution', 999)}/customers.csv",
                         vworld.tokens["developer"])
    assert unknown.status_code == 404
    invalid = await _get(runtime, _url(vworld, "transactionDateFrom=yesterday"), vworld.tokens["developer"])
    assert invalid.status_code == 400 and invalid.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    invalid = await _get(runtime, _url(vworld, "userTypes=GOLD"), vworld.tokens["developer"])
    assert invalid.status_code == 400 and invalid.json()["errors"][0]["extensions"]["code"] == "INVALID_FILTER"
    assert (await _get(runtime, _url(vworld), vworld.tokens["platform_analyst"])).status_code == 200
