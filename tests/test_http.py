"""GraphQL over HTTP (the GraphQL-over-HTTP specification), authentication errors, limits, masking, /health."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import strawberry
from sqlalchemy import update

from gateway.auth import get_or_create_user, issue_token
from gateway.composition import Query, extends
from gateway.db import create_engine, utcnow
from gateway.hookspecs import hookimpl
from gateway.http import create_app
from gateway.models import ApiToken
from gateway.runtime import Runtime
from gateway.settings import load_settings
from gateway.testing import create_tables, make_test_runtime

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
VIEWER = "{ viewer { user { email } } }"


def client_for(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://gateway.test")


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(runtime) as http:
        yield http


async def post(client: httpx.AsyncClient, body: Any, *, accept: str | None = GRAPHQL_RESPONSE,
               token: str | None = None, authorization: str | None = None) -> httpx.Response:
    headers = {"Content-Type": JSON}
    if accept is not None:
        headers["Accept"] = accept
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if authorization is not None:
        headers["Authorization"] = authorization
    return await client.post("/graphql", json=body, headers=headers)


def media(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


async def user_token(runtime: Runtime, email: str = "someone@example.com", **changes: Any) -> str:
    async with runtime.sessions() as session, session.begin():
        user = await get_or_create_user(session, email)
        row, token = await issue_token(session, user, "test")
        if changes:
            await session.execute(update(ApiToken).where(ApiToken.id == row.id).values(**changes))
    return token


# ---------------------------------------------------------------- media types
async def test_graphql_response_json_when_accepted(client: httpx.AsyncClient, runtime: Runtime) -> None:
    token = await user_token(runtime)
    response = await post(client, {"query": VIEWER}, token=token)
    assert response.status_code == 200
    assert media(response) == GRAPHQL_RESPONSE
    assert response.json()["data"] == {"viewer": {"user": {"email": "someone@example.com"}}}


async def test_application_json_for_clients_that_ask_for_it(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": "{ __typename }"}, accept=JSON)
    assert (response.status_code, media(response)) == (200, JSON)
    assert response.json()["data"] == {"__typename": "Query"}


async def test_accept_preference_by_quality(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": "{ __typename }"}, accept=f"{JSON};q=0.5, {GRAPHQL_RESPONSE}")
    assert media(response) == GRAPHQL_RESPONSE
    response = await post(client, {"query": "{ __typename }"}, accept=f"{JSON}, {GRAPHQL_RESPONSE};q=0.1")
    assert media(response) == JSON


@pytest.mark.parametrize("accept", [None, "", "*/*", "application/*", "text/html;q=0.9, */*;q=0.8"])
async def test_wildcard_or_missing_accept_gets_application_json(client: httpx.AsyncClient, accept: str | None) -> None:
    if accept is None:
        del client.headers["accept"]  # httpx sends "Accept: */*" unless told not to
    response = await post(client, {"query": "{ __typename }"}, accept=accept)
    assert (response.status_code, media(response)) == (200, JSON)
    assert response.json()["data"] == {"__typename": "Query"}


async def test_explicit_graphql_response_json_wins_over_a_wildcard(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": "{ __typename }"}, accept=f"*/*, {GRAPHQL_RESPONSE}")
    assert media(response) == GRAPHQL_RESPONSE


async def test_unservable_accept_is_406(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": "{ __typename }"}, accept="text/csv")
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"


# ---------------------------------------------------------------- request errors: 400 vs 200
@pytest.mark.parametrize("accept, status", [(GRAPHQL_RESPONSE, 400), (JSON, 200)])
async def test_parse_error(client: httpx.AsyncClient, accept: str, status: int) -> None:
    response = await post(client, {"query": "{ viewer { "}, accept=accept)
    assert (response.status_code, media(response)) == (status, accept)
    body = response.json()
    assert "data" not in body
    assert "Syntax Error" in body["errors"][0]["message"]


@pytest.mark.parametrize("accept, status", [(GRAPHQL_RESPONSE, 400), (JSON, 200)])
async def test_validation_error(client: httpx.AsyncClient, accept: str, status: int) -> None:
    response = await post(client, {"query": "{ noSuchField }"}, accept=accept)
    assert response.status_code == status
    assert "noSuchField" in response.json()["errors"][0]["message"]


async def test_bad_variables_are_400(client: httpx.AsyncClient) -> None:
    query = "query ($first: Int) { organizations(first: $first) { totalCount } }"
    response = await post(client, {"query": query, "variables": {"first": "many"}})
    assert response.status_code == 400
    assert "$first" in response.json()["errors"][0]["message"]
    response = await post(client, {"query": query, "variables": [1, 2]})
    assert response.status_code == 400
    assert "variables" in response.json()["errors"][0]["message"]


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", content=b'{"query": ', headers={"Content-Type": JSON,
                                                                             "Accept": GRAPHQL_RESPONSE})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["errors"][0]["message"]


async def test_body_without_query_is_400(client: httpx.AsyncClient) -> None:
    response = await post(client, {"variables": {}})
    assert response.status_code == 400
    assert "query" in response.json()["errors"][0]["message"]


async def test_wrong_content_type_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", content="{ __typename }", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


# ---------------------------------------------------------------- methods
async def test_query_over_get(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ __typename }"}, headers={"Accept": GRAPHQL_RESPONSE})
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


async def test_mutation_over_get_is_405(client: httpx.AsyncClient) -> None:
    mutation = 'mutation { createPartner(input: {name: "X", kind: DISTRIBUTOR}) { partner { id } } }'
    response = await client.get("/graphql", params={"query": mutation}, headers={"Accept": GRAPHQL_RESPONSE})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert "POST" in response.json()["errors"][0]["message"]


async def test_put_is_405(client: httpx.AsyncClient) -> None:
    response = await client.put("/graphql", json={"query": "{ __typename }"}, headers={"Accept": GRAPHQL_RESPONSE})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


# ---------------------------------------------------------------- batching
async def test_batching_refused_unless_configured(client: httpx.AsyncClient) -> None:
    response = await post(client, [{"query": "{ __typename }"}, {"query": "{ __typename }"}])
    assert response.status_code == 400
    assert "Batched requests are disabled" in response.json()["errors"][0]["message"]


async def test_batching_when_configured() -> None:
    runtime = make_test_runtime("sqlite", batching=True, batching_max=2)
    await create_tables(runtime)
    try:
        async with client_for(runtime) as http:
            response = await post(http, [{"query": "{ __typename }"}, {"query": "{ a: __typename }"}])
            assert response.status_code == 200
            assert [item["data"] for item in response.json()] == [{"__typename": "Query"}, {"a": "Query"}]
            too_many = await post(http, [{"query": "{ __typename }"}] * 3)
            assert too_many.status_code == 400
    finally:
        await runtime.dispose()


# ---------------------------------------------------------------- authentication
@pytest.mark.parametrize("case, message", [
    ("unknown", "unknown"), ("expired", "expired"), ("revoked", "revoked"),
])
async def test_bad_token_is_401_json(client: httpx.AsyncClient, runtime: Runtime, case: str, message: str) -> None:
    past = utcnow() - dt.timedelta(minutes=1)
    if case == "unknown":
        token = "pgw_not-a-real-token"
    elif case == "expired":
        token = await user_token(runtime, expires_at=past)
    else:
        token = await user_token(runtime, revoked_at=past)
    response = await post(client, {"query": "{ __typename }"}, token=token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert message in error["message"]


async def test_non_bearer_scheme_is_401(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": "{ __typename }"}, authorization="Basic dXNlcjpwYXNz")
    assert response.status_code == 401
    assert "Bearer" in response.json()["errors"][0]["message"]


async def test_bad_token_over_get_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ __typename }"},
                                headers={"Authorization": "Bearer nope", "Accept": JSON})
    assert response.status_code == 401


async def test_anonymous_may_introspect_but_not_read(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": "{ __schema { queryType { name } types { name } } }"})
    assert response.status_code == 200
    names = {t["name"] for t in response.json()["data"]["__schema"]["types"]}
    assert {"Organization", "Partner", "Node"} <= names
    response = await post(client, {"query": VIEWER})
    assert response.status_code == 200  # a field error, not a request error
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# ---------------------------------------------------------------- limits and masking
async def test_over_deep_query_refused(client: httpx.AsyncClient, runtime: Runtime) -> None:
    depth = runtime.settings.max_depth + 2
    query = "{ organizations(first: 1) { nodes { partner { " + "parent { " * depth + "name" + " }" * depth + " } } } }"
    response = await post(client, {"query": query})
    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert "exceeds maximum operation depth" in message and str(runtime.settings.max_depth) in message


@extends(Query)
class Boom:
    @strawberry.field
    def boom(self) -> str:
        raise RuntimeError("database password is hunter2")


class BoomPlugin:
    @staticmethod
    @hookimpl
    def gateway_type_extensions() -> list[type]:
        return [Boom]


async def test_unexpected_error_is_masked_with_an_error_id(caplog: pytest.LogCaptureFixture) -> None:
    runtime = make_test_runtime("sqlite", extra_plugins=[("boom", BoomPlugin)])
    await create_tables(runtime)
    try:
        async with client_for(runtime) as http:
            response = await post(http, {"query": "{ boom }"})
    finally:
        await runtime.dispose()
    assert response.status_code == 200
    error = response.json()["errors"][0]
    assert "hunter2" not in response.text
    error_id = error["extensions"]["errorId"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert error_id in error["message"]
    logged = [r for r in caplog.records if error_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the stack is in the log


# ---------------------------------------------------------------- health and request logs
async def test_health_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "core" in response.json()["plugins"]
    assert response.headers["x-request-id"]


async def test_health_503_when_database_unreachable(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/missing-folder/gateway.db"
    runtime = Runtime(load_settings(database_url=url, plugins="core"), engine=create_engine(url))
    try:
        async with client_for(runtime) as http:
            response = await http.get("/health")
    finally:
        await runtime.dispose()
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"


async def test_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"

