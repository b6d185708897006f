"""Refusals that need no database happen before any: no SQL statement, no budget charged, no body read past the limit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import orjson
import pytest

from gateway.auth import get_or_create_user, issue_token
from gateway.http import MAX_BODY_BYTES, create_app
from gateway.runtime import Runtime
from gateway.testing import count_statements, create_tables, make_test_runtime

GRAPHQL_RESPONSE = "application/graphql-response+json"
VIEWER = "{ viewer { user { email } } }"
VIEWER_COST = 3  # viewer, user, email


def refused_documents(runtime: Runtime) -> dict[str, tuple[str, str]]:
    """Each kind of document refused before work: (query, a part of the message)."""
    settings = runtime.settings
    depth = settings.max_depth + 2
    deep = "{ organizations(first: 1) { nodes { partner { " + "parent { " * depth + "name" + " }" * depth + " } } } }"
    aliases = "{ " + " ".join(f"a{i}: __typename" for i in range(settings.max_aliases + 1)) + " }"
    tokens = "{ " + "__typename " * (settings.max_tokens + 10) + "}"
    cycle = "{ viewer { ...A } } fragment A on Viewer { ...B } fragment B on Viewer { ...A }"
    return {
        "depth": (deep, "exceeds maximum operation depth"),
        "aliases": (aliases, "aliases found"),
        "tokens": (tokens, "more than"),
        "fragment cycle": (cycle, "Cannot spread fragment"),
        "unknown field": ("{ viewer { nope } }", "Cannot query field"),
        "syntax": ("{ viewer { ", "Syntax Error"),
    }


def client_for(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://gateway.test")


async def user_token(runtime: Runtime) -> str:
    async with runtime.sessions() as session, session.begin():
        user = await get_or_create_user(session, "refused@example.com")
        _, token = await issue_token(session, user, "test")
    return token


@pytest.mark.parametrize("kind", ["depth", "aliases", "tokens", "fragment cycle", "unknown field", "syntax"])
async def test_refused_document_costs_no_statement_and_no_budget(runtime: Runtime, kind: str) -> None:
    token = await user_token(runtime)
    query, message = refused_documents(runtime)[kind]
    headers = {"Authorization": f"Bearer {token}", "Accept": GRAPHQL_RESPONSE}
    async with client_for(runtime) as client:
        with count_statements(runtime) as counter:
            refused = await client.post("/graphql", json={"query": query}, headers=headers)
        assert counter.statements == []  # not even the token was looked up
        assert refused.status_code == 400
        body = refused.json()
        assert "data" not in body and message in body["errors"][0]["message"]
        charged = (await client.post("/graphql", json={"query": VIEWER}, headers=headers)).json()
    # the refused request took nothing from the budget: the first charge is the viewer query's
    budget = runtime.settings.cost_budget_per_minute
    assert charged["extensions"]["cost"]["remaining"] == budget - VIEWER_COST


async def test_anonymous_refusal_costs_no_statement(runtime: Runtime) -> None:
    query, _ = refused_documents(runtime)["depth"]
    async with client_for(runtime) as client:
        with count_statements(runtime) as counter:
            refused = await client.post("/graphql", json={"query": query}, headers={"Accept": GRAPHQL_RESPONSE})
    assert refused.status_code == 400 and counter.count == 0


@pytest.fixture
async def batching() -> AsyncIterator[Runtime]:
    runtime = make_test_runtime("sqlite", plugins=["core"], batching=True, batching_max=3)
    await create_tables(runtime)
    yield runtime
    await runtime.dispose()


async def test_a_batch_of_refused_documents_costs_no_statement(batching: Runtime) -> None:
    documents = refused_documents(batching)
    batch = [{"query": documents["depth"][0]}, {"query": documents["aliases"][0]}]
    async with client_for(batching) as client:
        with count_statements(batching) as counter:
            response = await client.post("/graphql", json=batch, headers={"Authorization": "Bearer x"})
    assert counter.count == 0
    assert [documents["depth"][1] in response.json()[0]["errors"][0]["message"],
            documents["aliases"][1] in response.json()[1]["errors"][0]["message"]] == [True, True]


async def test_a_refused_operation_of_a_batch_is_not_charged(batching: Runtime) -> None:
    token = await user_token(batching)
    deep, message = refused_documents(batching)["depth"]
    async with client_for(batching) as client:
        response = await client.post("/graphql", json=[{"query": deep}, {"query": VIEWER}],
                                     headers={"Authorization": f"Bearer {token}"})
    refused, answered = response.json()
    assert message in refused["errors"][0]["message"] and "extensions" not in refused
    assert answered["data"]["viewer"]["user"]["email"] == "refused@example.com"
    assert answered["extensions"]["cost"]["remaining"] == batching.settings.cost_budget_per_minute - VIEWER_COST


# ---------------------------------------------------------------- the body limit
async def call_asgi(app: Any, headers: list[tuple[bytes, bytes]], chunks: Iterable[bytes]
                    ) -> tuple[int, dict[str, Any], int]:
    """POST /graphql straight to the ASGI app: (status, JSON body, body chunks the app pulled)."""
    pending = list(chunks)
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < len(pending):
            pulled += 1
            return {"type": "http.request", "body": pending[pulled - 1], "more_body": pulled < len(pending)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"gateway.test"), (b"content-type", b"application/json"), *headers],
             "client": ("127.0.0.1", 40000), "server": ("gateway.test", 80)}
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, orjson.loads(body), pulled


async def test_declared_oversized_body_is_refused_before_reading_it(runtime: Runtime) -> None:
    chunk = b" " * 65536
    chunks = [chunk] * (MAX_BODY_BYTES // len(chunk) + 2)
    declared = str(sum(map(len, chunks))).encode()
    status, body, pulled = await call_asgi(create_app(runtime), [(b"content-length", declared)], chunks)
    assert (status, body["errors"][0]["extensions"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert pulled == 0


async def test_chunked_body_is_cut_off_at_the_limit(runtime: Runtime) -> None:
    chunk = b" " * 65536
    chunks = [chunk] * 100  # 6.5 MB, no Content-Length
    status, body, pulled = await call_asgi(create_app(runtime), [(b"transfer-encoding", b"chunked")], chunks)
    assert (status, body["errors"][0]["extensions"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert pulled <= MAX_BODY_BYTES // len(chunk) + 1  # stopped at the limit, not at the end


async def test_chunked_body_under_the_limit_is_served(runtime: Runtime) -> None:
    payload = orjson.dumps({"query": "{ __typename }"})
    chunks = [payload[i:i + 5] for i in range(0, len(payload), 5)]
    status, body, _ = await call_asgi(create_app(runtime), [(b"accept", b"application/json")], chunks)
    assert (status, body["data"]) == (200, {"__typename": "Query"})


async def test_non_numeric_content_length_is_400(runtime: Runtime) -> None:
    status, body, pulled = await call_asgi(create_app(runtime), [(b"content-length", b"12abc")], [b"{}"])
    assert status == 400 and "Content-Length" in body["errors"][0]["message"] and pulled == 0


async def test_an_invalid_document_is_not_stored_as_a_persisted_query(runtime: Runtime) -> None:
    import hashlib

    query, message = refused_documents(runtime)["depth"]
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}}
    async with client_for(runtime) as client:
        with count_statements(runtime) as counter:
            refused = await client.post("/graphql", json={"query": query, "extensions": persisted})
        again = await client.post("/graphql", json={"extensions": persisted})
    assert counter.count == 0 and message in refused.json()["errors"][0]["message"]
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


def test_long_documents_are_not_kept_in_the_check_cache(runtime: Runtime) -> None:
    from gateway.validation import CACHEABLE_LENGTH, document_checker

    checker = document_checker(runtime.schema)
    before = checker._cached_check.cache_info().currsize
    long_query = "{ __typename " + " " * CACHEABLE_LENGTH + "}"
    assert checker.check(long_query, True) == ()
    assert checker._cached_check.cache_info().currsize == before
    short_query = "{ __typename __typename }"
    checker.check(short_query, True)
    checker.check(short_query, True)
    assert checker._cached_check.cache_info().hits >= 1


def test_long_documents_are_not_kept_in_the_parse_cache() -> None:
    from gateway.cost import CACHEABLE_LENGTH, _parse_cached, parse_document

    before = _parse_cached.cache_info().currsize
    assert parse_document("{ __typename " + " " * CACHEABLE_LENGTH + "}") is not None
    assert _parse_cached.cache_info().currsize == before


@pytest.mark.parametrize("kind", ["depth", "aliases", "tokens", "fragment cycle", "unknown field", "syntax"])
async def test_a_refused_document_carries_a_code_a_client_can_branch_on(runtime: Runtime, kind: str) -> None:
    query, _ = refused_documents(runtime)[kind]
    expected = "GRAPHQL_PARSE_FAILED" if kind in ("syntax", "tokens") else "GRAPHQL_VALIDATION_FAILED"
    async with client_for(runtime) as client:
        refused = await client.post("/graphql", json={"query": query}, headers={"Accept": GRAPHQL_RESPONSE})
    assert {error["extensions"]["code"] for error in refused.json()["errors"]} == {expected}


async def test_an_accepted_document_is_priced_once_per_request(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check before authentication prices the document; execution charges that price, not a new walk."""
    import gateway.cost

    walks: list[str] = []
    real = gateway.cost.query_cost

    def counting(*args: Any, **kwargs: Any) -> int:
        walks.append("walk")
        return real(*args, **kwargs)

    monkeypatch.setattr(gateway.cost, "query_cost", counting)
    token = await user_token(runtime)
    async with client_for(runtime) as client:
        answer = await client.post("/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"})
    assert answer.json()["extensions"]["cost"]["requestedQueryCost"] == VIEWER_COST
    assert walks == ["walk"]


async def test_an_unknown_operation_name_is_refused_before_any_statement(runtime: Runtime) -> None:
    token = await user_token(runtime)
    headers = {"Authorization": f"Bearer {token}", "Accept": GRAPHQL_RESPONSE}
    async with client_for(runtime) as client:
        with count_statements(runtime) as counter:
            refused = await client.post("/graphql", json={"query": "query A { viewer { user { email } } }",
                                                          "operationName": "B"}, headers=headers)
    assert counter.statements == []
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
