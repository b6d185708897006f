"""Malformed input is the client's mistake: a 4xx or BAD_USER_INPUT with a message a person can act on.

Each class found by hand or by .ci/fuzz_graphql.py (schemathesis) has its regression test here:
operation selection, global IDs, Decimal / DateTime / Date scalars, 32-bit Int, text longer than
its column, and values the database itself refuses.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import strawberry
from sqlalchemy import exc as sa_exc
from sqlalchemy import insert, text

from gateway.composition import Query, extends
from gateway.errors import BadUserInput
from gateway.hookspecs import hookimpl
from gateway.http import create_app
from gateway.input_limits import check_string_lengths, is_invalid_data_error
from gateway.relay import MAX_PK, decode_id, encode_id
from gateway.scalars import InvalidInputScalar, parse_date, parse_datetime, parse_decimal
from gateway.testing import create_tables, make_test_runtime, run_query
from schema import models
from schema.catalog.service import sync_catalog
from schema.testing import World, build_world, declared_catalogs

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
SUBMIT = """mutation($input: SubmitLargeDealInput!) { submitLargeDeal(input: $input) {
  largeDeal { id estimatedValue { amount } } userErrors { code message field } } }"""


def raw_id(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.fixture
async def world(runtime: Any) -> World:
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        await sync_catalog(session, declared_catalogs())  # every installed plugin's products
    return world


@pytest.fixture
async def http(runtime: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)),
                                 base_url="http://gateway.test") as client:
        yield client


async def post(http: httpx.AsyncClient, body: Any, token: str | None = None, accept: str = JSON) -> httpx.Response:
    headers = {"Content-Type": JSON, "Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return await http.post("/graphql", json=body, headers=headers)


def only_code(response_body: dict[str, Any]) -> str:
    codes = {e.get("extensions", {}).get("code") for e in response_body["errors"]}
    assert len(codes) == 1, response_body
    return codes.pop()


# ---------------------------------------------------------------- operation selection
@pytest.mark.parametrize("accept, status", [(JSON, 200), (GRAPHQL_RESPONSE, 400)])
async def test_unknown_operation_name_is_a_request_error_naming_the_operations(
        http: httpx.AsyncClient, accept: str, status: int) -> None:
    response = await post(http, {"query": "query First { __typename } query Second { __typename }",
                                 "operationName": "Third"}, accept=accept)
    assert response.status_code == status
    body = response.json()
    assert "data" not in body
    assert only_code(body) == "BAD_USER_INPUT"
    message = body["errors"][0]["message"]
    assert "'Third'" in message and "First" in message and "Second" in message


async def test_several_operations_without_a_name_say_which_to_choose(http: httpx.AsyncClient) -> None:
    response = await post(http, {"query": "query A { __typename } query B { __typename }"}, accept=GRAPHQL_RESPONSE)
    assert response.status_code == 400
    assert "operationName" in response.json()["errors"][0]["message"]


async def test_a_named_operation_still_runs(http: httpx.AsyncClient) -> None:
    response = await post(http, {"query": "query A { __typename } query B { __typename }", "operationName": "B"})
    assert response.status_code == 200 and response.json()["data"] == {"__typename": "Query"}


# ---------------------------------------------------------------- global IDs
@pytest.mark.parametrize("text", [
    "Organization:99999999999999999999999", f"Organization:{MAX_PK + 1}", "Organization:-1", "Organization:0",
    "Organization:1_0", "Organization: 7", "Organization:+3", "Organization:\u0663", "Organization:", ":1",
    "Organization:1:2", "Org anization:1",
])
def test_out_of_range_or_odd_keys_are_bad_user_input(text: str) -> None:
    with pytest.raises(BadUserInput, match="is not a valid ID"):
        decode_id(raw_id(text))


def test_overlong_and_non_ascii_ids_are_bad_user_input() -> None:
    for value in ["A" * 10_000, "Ö" * 8, "\x00"]:
        with pytest.raises(BadUserInput):
            decode_id(value)
    assert decode_id(encode_id("Organization", MAX_PK)) == ("Organization", MAX_PK)


@pytest.mark.parametrize("text", ["Organization:99999999999999999999999", f"Organization:{2**63}"])
async def test_huge_ids_in_queries_and_mutations_are_bad_user_input(runtime: Any, world: World, text: str) -> None:
    token = world.tokens["platform_admin"]
    node = await run_query(runtime, "query($id: ID!) { node(id: $id) { id } }", {"id": raw_id(text)}, token=token)
    assert node.error_codes == ["BAD_USER_INPUT"]
    nodes = await run_query(runtime, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
                            {"ids": [world.org_id("acme"), raw_id(text)]}, token=token)
    assert nodes.error_codes == ["BAD_USER_INPUT"]
    deal = await run_query(runtime, SUBMIT, {"input": _deal(world, organizationId=raw_id(text))},
                           token=world.tokens["reseller_admin"])
    assert deal.error_codes == ["BAD_USER_INPUT"]


# ---------------------------------------------------------------- Decimal, DateTime, Date
def _deal(world: World, **patch: Any) -> dict[str, Any]:
    close = (dt.date.today() + dt.timedelta(days=60)).isoformat()
    return {"organizationId": world.org_id("acme"), "productCode": "MAIL", "estimatedLicenses": 10,
            "estimatedValue": {"amount": "1200.00", "currency": "USD"}, "expectedCloseDate": close, **patch}


@pytest.mark.parametrize("amount", ["1e400", "NaN", "Infinity", "-Infinity", "sNaN", "123456789012345678901234567890",
                                    "1.123456", "12.5.5", "", "abc", "1" * 100])
async def test_decimal_variables_that_no_amount_can_be_are_bad_user_input(runtime: Any, world: World, amount: str) -> None:
    result = await run_query(runtime, SUBMIT, {"input": _deal(world, estimatedValue={"amount": amount, "currency": "USD"})},
                             token=world.tokens["reseller_admin"])
    assert result.data is None
    assert result.error_codes == ["BAD_USER_INPUT"], result.errors
    assert "amount" in result.errors[0]["message"]


@pytest.mark.parametrize("literal", ["1e400", "\"NaN\"", "\"Infinity\"", "1e20"])
async def test_decimal_literals_are_refused_too(runtime: Any, world: World, literal: str) -> None:
    query = ("mutation { submitLargeDeal(input: {organizationId: \"%s\", productCode: \"MAIL\", estimatedLicenses: 1, "
             "estimatedValue: {amount: %s, currency: \"USD\"}, expectedCloseDate: \"2099-01-01\"}) { userErrors { code } } }"
             % (world.org_id("acme"), literal))
    result = await run_query(runtime, query, token=world.tokens["reseller_admin"])
    assert result.error_codes == ["BAD_USER_INPUT"], result.errors


def test_decimal_scalar_keeps_what_an_amount_can_be() -> None:
    assert parse_decimal("-0") == 0 and not parse_decimal("-0").is_signed()
    assert parse_decimal("12.50000") == Decimal("12.5")  # trailing zeros are no extra precision
    assert parse_decimal(12) == Decimal(12) and parse_decimal("99999999999999.9999") == Decimal("99999999999999.9999")
    for bad in [True, None, [1], float("inf"), float("nan")]:
        with pytest.raises(InvalidInputScalar):
            parse_decimal(bad)


@pytest.mark.parametrize("value", ["2020-01-01T00:00:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
                                   "not a date", "2020-13-01T00:00:00Z"])
def test_datetime_needs_a_zone_and_a_representable_instant(value: str) -> None:
    with pytest.raises(InvalidInputScalar):
        parse_datetime(value)
    assert parse_datetime("2020-01-01T00:00:00Z").tzinfo is not None


@pytest.mark.parametrize("value", ["0000-01-01", "2020-02-30", "20200101x", ""])
def test_date_out_of_range_is_refused(value: str) -> None:
    with pytest.raises(InvalidInputScalar):
        parse_date(value)


async def test_naive_datetime_filter_is_bad_user_input_not_a_crash(runtime: Any, world: World) -> None:
    result = await run_query(runtime, '{ organizations(filter: {createdAfter: "2020-01-01T00:00:00"}) { totalCount } }',
                             token=world.tokens["platform_admin"])
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert "time zone" in result.errors[0]["message"]


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
async def test_stats_filter_at_the_edge_of_the_calendar_is_bad_user_input(runtime: Any, world: World, moment: str) -> None:
    # found by .ci/fuzz_graphql.py: converting such a time to UTC overflowed inside the resolver
    result = await run_query(runtime, '{ subscriptionStats(groupBy: [], filter: {createdAfter: "%s"}) { subscriptions } }' % moment,
                             token=world.tokens["platform_admin"])
    assert result.error_codes == ["BAD_USER_INPUT"], result.errors
    assert "range" in result.errors[0]["message"]


async def test_ints_beyond_32_bits_are_refused_by_graphql(runtime: Any, world: World) -> None:
    result = await run_query(runtime, "{ organizations(first: 3000000000) { totalCount } }",
                             token=world.tokens["platform_admin"])
    assert result.data is None and "32-bit" in result.errors[0]["message"]


# ---------------------------------------------------------------- text longer than its column
def test_text_longer_than_its_column_is_refused_at_flush_naming_the_field() -> None:
    class FakeSession:
        new = [models.Partner(name="x" * 201, code="C1", kind="RESELLER")]
        dirty: list[Any] = []

    with pytest.raises(BadUserInput, match="`name` takes at most 200 characters") as refused:
        check_string_lengths(FakeSession())  # type: ignore[arg-type]
    assert refused.value.extensions == {"code": "BAD_USER_INPUT", "field": "name", "maxLength": 200}


async def test_text_too_long_for_a_column_is_bad_user_input_on_every_database(runtime: Any, world: World) -> None:
    async with runtime.sessions() as session:
        session.add(models.Partner(name="x" * 500, code="LONG1", kind="RESELLER"))
        with pytest.raises(BadUserInput, match="`name`"):
            await session.flush()  # PostgreSQL would say "value too long"; SQLite would keep it silently


# ---------------------------------------------------------------- values the database refuses
class StringDataRightTruncation(Exception):
    sqlstate = "22001"  # what asyncpg raises for "value too long for type character varying(n)"


@extends(Query)
class RefusedByTheDatabase:
    @strawberry.field
    def too_long(self) -> str:
        raise sa_exc.DBAPIError("UPDATE", {}, StringDataRightTruncation("value too long for type character varying(20)"))

    @strawberry.field
    def overflow(self) -> str:
        raise sa_exc.DBAPIError("SELECT", {}, OverflowError("Python int too large to convert to SQLite INTEGER"))


class RefusingPlugin:
    @staticmethod
    @hookimpl
    def gateway_type_extensions() -> list[type]:
        return [RefusedByTheDatabase]


@pytest.mark.parametrize("field", ["tooLong", "overflow"])
async def test_values_the_database_refuses_are_bad_user_input_not_masked(field: str) -> None:
    runtime = make_test_runtime("sqlite", plugins=["core"], extra_plugins=[("refusing", RefusingPlugin)])
    await create_tables(runtime)
    try:
        result = await run_query(runtime, "{ %s }" % field)
    finally:
        await runtime.dispose()
    assert result.error_codes == ["BAD_USER_INPUT"]
    assert "errorId" not in str(result.errors)


def test_data_errors_are_recognised_but_bugs_are_not() -> None:
    assert is_invalid_data_error(sa_exc.DBAPIError("x", {}, StringDataRightTruncation("too long")))
    assert not is_invalid_data_error(sa_exc.IntegrityError("x", {}, Exception("duplicate")))
    assert not is_invalid_data_error(ValueError("bug"))


async def test_real_postgresql_data_exceptions_are_recognised(runtime: Any) -> None:
    if runtime.settings.is_sqlite:
        pytest.skip("SQLite neither limits varchar nor refuses a cast: only PostgreSQL raises SQLSTATE 22")
    async with runtime.engine.connect() as connection:
        with pytest.raises(sa_exc.DBAPIError) as too_long:  # Core, not the ORM: past the flush check
            await connection.execute(insert(models.Partner).values(name="x" * 300, code="LONG2", kind="RESELLER"))
        await connection.rollback()
        with pytest.raises(sa_exc.DBAPIError) as not_a_number:
            await connection.execute(text("SELECT CAST('abc' AS integer)"))
        await connection.rollback()
        with pytest.raises(sa_exc.DBAPIError) as not_a_table:
            await connection.execute(text("SELECT * FROM no_such_table"))
    assert "too long" in str(too_long.value) and is_invalid_data_error(too_long.value)
    assert is_invalid_data_error(not_a_number.value)
    assert not is_invalid_data_error(not_a_table.value)  # a bug stays a bug
