"""OrganizationFilter and OrganizationOrder on `organizations` and `Partner.customers`, with keyset pagination.

Many organizations share a name, a country and a creation time, so every order depends on its
tie-breaker (the id); walking all pages forward and backward must give exactly the order the
definition says, with no duplicate and no gap.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.relay import decode_id, encode_id
from gateway.testing import count_statements, run_query
from schema import models
from schema.testing import World, build_world

NAMES = ["Tie Gamma", "Tie Alpha", "Tie Beta"]
COUNTRIES = ["US", None, "DE", "FR"]
STATUSES = ["ACTIVE", "TRIAL", "SUSPENDED", "INACTIVE"]
BASE = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

ORGANIZATIONS = """
query($first: Int, $after: String, $last: Int, $before: String, $filter: OrganizationFilter, $orderBy: OrganizationOrder) {
  organizations(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name domain } }
  }
}"""
CUSTOMERS = """
query($partner: ID!, $first: Int, $after: String, $last: Int, $before: String, $filter: OrganizationFilter,
      $orderBy: OrganizationOrder) {
  partner(id: $partner) {
    customers(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
      totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      edges { cursor node { id name domain } }
    }
  }
}"""


class Tied:
    """The extra organizations: (pk, name, country, created_at, status, verified), all mapped to `ties`."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.partner_id = ""
        self.other_partner_id = ""


async def build_tied_world(runtime: Any, count: int = 23) -> tuple[World, Tied]:
    world = await build_world(runtime)
    tied = Tied()
    async with runtime.sessions() as session, session.begin():
        ties = models.Partner(name="Ties Partner", code="TIES1", kind="RESELLER", parent_id=world.partners["dist"])
        session.add(ties)
        await session.flush()
        tied.partner_id = encode_id("Partner", ties.id)
        tied.other_partner_id = world.partner_id("reseller")
        premium = world.plans["MAIL_PREMIUM"]
        for i in range(count):
            row = models.Organization(
                name=NAMES[i % 3], domain=f"tie{i:02d}.example", domain_verified=i % 2 == 0,
                domain_verification_code="x", status=STATUSES[i % 4], country=COUNTRIES[i % 4],
                partner_id=ties.id, created_at=BASE + dt.timedelta(days=i % 5),
            )
            session.add(row)
            await session.flush()
            if i % 3 == 0:
                session.add(models.Subscription(
                    organization_id=row.id, product_id=world.products["MAIL"], plan_id=premium, status="ACTIVE",
                    license_count=1, current_period_start=BASE, current_period_end=BASE + dt.timedelta(days=30)))
            tied.rows.append({"pk": row.id, "id": encode_id("Organization", row.id), "name": row.name,
                              "country": row.country, "created_at": row.created_at, "status": row.status,
                              "verified": row.domain_verified, "domain": row.domain, "premium": i % 3 == 0})
    return world, tied


def expected_order(rows: list[dict[str, Any]], field: str, direction: str) -> list[str]:
    key = {"NAME": lambda r: r["name"], "CREATED_AT": lambda r: r["created_at"],
           "COUNTRY": lambda r: r["country"] or ""}[field]
    ordered = sorted(rows, key=lambda r: (key(r), r["pk"]), reverse=direction == "DESC")
    return [r["id"] for r in ordered]


async def walk(runtime: Any, token: str, query: str, path: list[str], size: int, backward: bool,
               **variables: Any) -> list[str]:
    """Every node id, following cursors page by page (forward with first/after, backward with last/before)."""
    seen: list[list[str]] = []
    cursor: str | None = None
    pages = 0
    while True:
        paging = {"last": size, "before": cursor} if backward else {"first": size, "after": cursor}
        data = (await run_query(runtime, query, {**variables, **paging}, token=token)).ok()
        connection = data
        for key in path:
            connection = connection[key]
        ids = [edge["node"]["id"] for edge in connection["edges"]]
        info = connection["pageInfo"]
        assert len(ids) <= size
        if ids:
            assert info["startCursor"] == connection["edges"][0]["cursor"]
            assert info["endCursor"] == connection["edges"][-1]["cursor"]
        if backward:
            assert info["hasNextPage"] is (cursor is not None)
            seen.insert(0, ids)
            more, cursor = info["hasPreviousPage"], info["startCursor"]
        else:
            assert info["hasPreviousPage"] is (cursor is not None)
            seen.append(ids)
            more, cursor = info["hasNextPage"], info["endCursor"]
        pages += 1
        assert pages < 100
        if not more:
            return [pk for page in seen for pk in page]


@pytest.fixture
async def tied_world(runtime: Any) -> tuple[World, Tied]:
    return await build_tied_world(runtime)


# ---------------------------------------------------------------- ordering and pagination
@pytest.mark.parametrize("field", ["NAME", "CREATED_AT", "COUNTRY"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "backward"])
async def test_organizations_pages_follow_the_order_with_ties_broken_by_id(runtime, tied_world, field, direction,
                                                                           backward):
    world, tied = tied_world
    got = await walk(runtime, world.tokens["platform_analyst"], ORGANIZATIONS, ["organizations"], 4, backward,
                     filter={"partnerId": tied.partner_id}, orderBy={"field": field, "direction": direction})
    assert got == expected_order(tied.rows, field, direction)


@pytest.mark.parametrize("field", ["NAME", "CREATED_AT", "COUNTRY"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
@pytest.mark.parametrize("backward", [False, True], ids=["forward", "backward"])
async def test_partner_customers_pages_follow_the_order(runtime, tied_world, field, direction, backward):
    world, tied = tied_world
    got = await walk(runtime, world.tokens["platform_analyst"], CUSTOMERS, ["partner", "customers"], 5, backward,
                     partner=tied.partner_id, orderBy={"field": field, "direction": direction})
    assert got == expected_order(tied.rows, field, direction)


async def test_default_order_is_by_name_then_id(runtime, tied_world):
    world, tied = tied_world
    got = await walk(runtime, world.tokens["platform_analyst"], ORGANIZATIONS, ["organizations"], 6, False,
                     filter={"partnerId": tied.partner_id})
    assert got == expected_order(tied.rows, "NAME", "ASC")


async def test_pages_stay_correct_when_rows_are_added_between_requests(runtime, tied_world):
    """Keyset cursors: a new organization sorting before the cursor neither shifts nor repeats the next page."""
    world, tied = tied_world
    token = world.tokens["platform_analyst"]
    variables = {"filter": {"partnerId": tied.partner_id}, "orderBy": {"field": "NAME", "direction": "ASC"}}
    first = (await run_query(runtime, ORGANIZATIONS, {**variables, "first": 8}, token=token)).ok()["organizations"]
    async with runtime.sessions() as session, session.begin():
        session.add(models.Organization(name="Tie Aardvark", domain="early.example", domain_verification_code="x",
                                        partner_id=decode_id(tied.partner_id)[1], created_at=BASE))
    rest = (await run_query(runtime, ORGANIZATIONS, {**variables, "first": 100,
                                                     "after": first["pageInfo"]["endCursor"]}, token=token)).ok()
    expected = expected_order(tied.rows, "NAME", "ASC")
    assert [e["node"]["id"] for e in first["edges"]] == expected[:8]
    assert [e["node"]["id"] for e in rest["organizations"]["edges"]] == expected[8:]
    assert rest["organizations"]["totalCount"] == len(tied.rows) + 1


async def test_customers_of_several_partners_paginate_independently_in_one_statement(runtime, tied_world):
    world, tied = tied_world
    query = """query($ids: [ID!]!, $after: String) { nodes(ids: $ids) { ... on Partner { code
        customers(first: 2, after: $after, orderBy: {field: NAME, direction: DESC}) { totalCount edges { node { domain } } } } } }"""
    with count_statements(runtime) as counter:
        data = (await run_query(runtime, query, {"ids": [tied.partner_id, tied.other_partner_id]},
                                token=world.tokens["platform_analyst"])).ok()
    by_code = {n["code"]: n["customers"] for n in data["nodes"]}
    assert by_code["RESEL1"]["totalCount"] == 2
    assert [e["node"]["domain"] for e in by_code["RESEL1"]["edges"]] == ["unverified.example", "acme.example"]
    ties_expected = expected_order(tied.rows, "NAME", "DESC")[:2]
    assert [e["node"]["domain"] for e in by_code["TIES1"]["edges"]] == [
        next(r["domain"] for r in tied.rows if r["id"] == pk) for pk in ties_expected]
    customer_reads = [s for s in counter.statements if "row_number" in s.lower()]
    assert len(customer_reads) == 1


async def test_malformed_cursor_is_bad_user_input(runtime, tied_world):
    world, tied = tied_world
    token = world.tokens["platform_analyst"]
    page = (await run_query(runtime, ORGANIZATIONS, {"first": 2}, token=token)).ok()["organizations"]
    result = await run_query(runtime, ORGANIZATIONS, {"first": 2, "after": "not-a-cursor"}, token=token)
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert page["pageInfo"]["hasNextPage"] is True


# ---------------------------------------------------------------- each filter
def domains_where(tied: Tied, predicate: Any) -> list[str]:
    return sorted(r["domain"] for r in tied.rows if predicate(r))


async def filtered(runtime: Any, world: World, tied: Tied, filter: dict[str, Any], *, customers: bool = False) -> list[str]:
    token = world.tokens["platform_analyst"]
    if customers:
        data = (await run_query(runtime, CUSTOMERS, {"partner": tied.partner_id, "first": 100, "filter": filter},
                                token=token)).ok()
        connection = data["partner"]["customers"]
    else:
        data = (await run_query(runtime, ORGANIZATIONS, {"first": 100, "filter": {"partnerId": tied.partner_id,
                                                                                 **filter}}, token=token)).ok()
        connection = data["organizations"]
    got = sorted(e["node"]["domain"] for e in connection["edges"])
    assert connection["totalCount"] == len(got)
    return got


FILTERS = [
    ("status", {"status": ["TRIAL", "INACTIVE"]}, lambda r: r["status"] in ("TRIAL", "INACTIVE")),
    ("country", {"country": ["de", "FR"]}, lambda r: r["country"] in ("DE", "FR")),
    ("domainVerified", {"domainVerified": False}, lambda r: not r["verified"]),
    ("search name", {"search": "alpha"}, lambda r: r["name"] == "Tie Alpha"),
    ("search domain", {"search": "TIE1"}, lambda r: r["domain"].startswith("tie1")),
    ("createdAfter", {"createdAfter": (BASE + dt.timedelta(days=3)).isoformat()},
     lambda r: r["created_at"] >= BASE + dt.timedelta(days=3)),
    ("createdBefore", {"createdBefore": (BASE + dt.timedelta(days=1)).isoformat()},
     lambda r: r["created_at"] < BASE + dt.timedelta(days=1)),
    ("productCode", {"productCode": "MAIL"}, lambda r: r["premium"]),
    ("planCode", {"planCode": "MAIL_PREMIUM"}, lambda r: r["premium"]),
    ("planCode none", {"planCode": "MAIL_STANDARD"}, lambda r: False),
    ("combined", {"status": ["ACTIVE", "TRIAL"], "domainVerified": True, "search": "gamma"},
     lambda r: r["status"] in ("ACTIVE", "TRIAL") and r["verified"] and r["name"] == "Tie Gamma"),
]


@pytest.mark.parametrize("name, filter, predicate", FILTERS, ids=[f[0] for f in FILTERS])
async def test_each_filter_on_organizations(runtime, tied_world, name, filter, predicate):
    world, tied = tied_world
    expected = domains_where(tied, predicate)
    assert await filtered(runtime, world, tied, filter) == expected
    if name not in ("planCode none",):
        assert expected, "the data set must exercise the filter"


@pytest.mark.parametrize("name, filter, predicate", FILTERS, ids=[f[0] for f in FILTERS])
async def test_each_filter_on_partner_customers(runtime, tied_world, name, filter, predicate):
    world, tied = tied_world
    assert await filtered(runtime, world, tied, filter, customers=True) == domains_where(tied, predicate)


async def test_partner_filter_selects_that_partners_customers(runtime, tied_world):
    world, tied = tied_world
    data = (await run_query(runtime, ORGANIZATIONS, {"first": 100, "filter": {"partnerId": tied.other_partner_id}},
                            token=world.tokens["platform_analyst"])).ok()
    assert sorted(e["node"]["domain"] for e in data["organizations"]["edges"]) == ["acme.example", "unverified.example"]


async def test_filters_never_widen_the_viewers_scope(runtime, tied_world):
    world, tied = tied_world
    data = (await run_query(runtime, ORGANIZATIONS, {"first": 100, "filter": {"partnerId": tied.partner_id}},
                            token=world.tokens["reseller_admin"])).ok()
    assert data["organizations"]["edges"] == [] and data["organizations"]["totalCount"] == 0


async def test_search_treats_wildcards_literally(runtime, tied_world):
    world, tied = tied_world
    async with runtime.sessions() as session, session.begin():
        session.add(models.Organization(name="Hundred 100% Inc", domain="pct.example", domain_verification_code="x",
                                        partner_id=decode_id(tied.partner_id)[1], created_at=BASE))
    assert await filtered(runtime, world, tied, {"search": "100%"}) == ["pct.example"]
    assert await filtered(runtime, world, tied, {"search": "%"}) == ["pct.example"]
    assert await filtered(runtime, world, tied, {"search": "tie_0"}) == []


async def test_bad_country_is_a_coded_client_error(runtime, tied_world):
    world, tied = tied_world
    result = await run_query(runtime, ORGANIZATIONS, {"first": 5, "filter": {"country": ["Germany"]}},
                             token=world.tokens["platform_analyst"])
    assert result.error_codes == ["INVALID_COUNTRY"]
    assert "ISO 3166-1" in result.errors[0]["message"]


async def test_bad_partner_id_is_a_client_error(runtime, tied_world):
    world, _ = tied_world
    result = await run_query(runtime, ORGANIZATIONS, {"first": 5, "filter": {"partnerId": world.org_id("acme")}},
                             token=world.tokens["platform_analyst"])
    assert result.error_codes == ["BAD_USER_INPUT"]
