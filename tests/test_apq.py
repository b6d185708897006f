"""Automatic persisted queries in Apollo's protocol, over GET and POST, shared by every worker."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from typing import Any

import httpx
import pytest

from gateway.http import create_app
from gateway.models import PersistedQuery
from gateway.persisted import REDIS_PREFIX
from gateway.runtime import Runtime
from schema.testing import build_world

QUERY = "query Me { viewer { user { email } } }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def apq(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def client(runtime: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://gateway")


def forget_cache(runtime: Any) -> None:
    runtime.__dict__.pop("_persisted_cache", None)


@pytest.fixture
async def token(runtime: Any) -> str:
    world = await build_world(runtime)
    forget_cache(runtime)
    yield world.tokens["org_super_admin"]
    forget_cache(runtime)


async def test_miss_answers_persisted_query_not_found(runtime, token):
    async with client(runtime) as http:
        response = await http.post("/graphql", json={"extensions": apq(sha(QUERY))},
                                   headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200  # Apollo clients read the error and retry with the query
    assert response.json() == {"errors": [{"message": "PersistedQueryNotFound",
                                           "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]}


async def test_register_then_hit_by_hash_alone(runtime, token):
    headers = {"Authorization": f"Bearer {token}"}
    async with client(runtime) as http:
        registered = await http.post("/graphql", json={"query": QUERY, "extensions": apq(sha(QUERY))}, headers=headers)
        hit = await http.post("/graphql", json={"extensions": apq(sha(QUERY))}, headers=headers)
    assert registered.json()["data"] == {"viewer": {"user": {"email": "boss@acme.example"}}}
    assert hit.status_code == 200
    assert hit.json()["data"] == {"viewer": {"user": {"email": "boss@acme.example"}}}


async def test_hit_over_get_as_apollo_sends_it(runtime, token):
    headers = {"Authorization": f"Bearer {token}"}
    async with client(runtime) as http:
        miss = await http.get("/graphql", params={"extensions": json.dumps(apq(sha(QUERY)))}, headers=headers)
        assert miss.json()["errors"][0]["message"] == "PersistedQueryNotFound"
        await http.get("/graphql", params={"query": QUERY, "extensions": json.dumps(apq(sha(QUERY)))}, headers=headers)
        hit = await http.get("/graphql", params={"extensions": json.dumps(apq(sha(QUERY))), "operationName": "Me"},
                             headers=headers)
    assert hit.status_code == 200
    assert hit.json()["data"]["viewer"]["user"]["email"] == "boss@acme.example"


async def test_stored_queries_are_seen_by_another_worker(runtime, token):
    """A second runtime on the same database (another worker) finds the query without the text."""
    async with client(runtime) as http:
        await http.post("/graphql", json={"query": QUERY, "extensions": apq(sha(QUERY))},
                        headers={"Authorization": f"Bearer {token}"})
    async with runtime.sessions() as session:
        stored = await session.get(PersistedQuery, sha(QUERY))
    assert stored is not None and stored.query == QUERY
    worker = Runtime(runtime.settings, engine=runtime.engine)
    async with client(worker) as http:
        hit = await http.post("/graphql", json={"extensions": apq(sha(QUERY))},
                              headers={"Authorization": f"Bearer {token}"})
    assert hit.json()["data"]["viewer"]["user"]["email"] == "boss@acme.example"


async def test_registering_twice_is_harmless(runtime, token):
    headers = {"Authorization": f"Bearer {token}"}
    async with client(runtime) as http:
        for _ in range(2):
            forget_cache(runtime)  # as two workers would
            response = await http.post("/graphql", json={"query": QUERY, "extensions": apq(sha(QUERY))},
                                       headers=headers)
            assert "errors" not in response.json()


async def test_hash_mismatch_is_refused(runtime, token):
    async with client(runtime) as http:
        response = await http.post("/graphql", json={"query": QUERY, "extensions": apq(sha("{ other }"))},
                                   headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert "data" not in response.json()
    async with runtime.sessions() as session:
        assert await session.get(PersistedQuery, sha("{ other }")) is None


async def test_wrong_version_is_refused(runtime, token):
    async with client(runtime) as http:
        response = await http.post(
            "/graphql", json={"extensions": {"persistedQuery": {"version": 2, "sha256Hash": sha(QUERY)}}},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/graphql-response+json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_INVALID"


async def test_persisted_mutation_is_refused_over_get(runtime, token):
    mutation = 'mutation { revokeApiToken(input: {tokenId: "x"}) { userErrors { code } } }'
    headers = {"Authorization": f"Bearer {token}"}
    async with client(runtime) as http:
        await http.post("/graphql", json={"query": mutation, "extensions": apq(sha(mutation))}, headers=headers)
        response = await http.get("/graphql", params={"extensions": json.dumps(apq(sha(mutation)))}, headers=headers)
    assert response.status_code == 405


async def test_stored_in_redis_when_configured(runtime, token, monkeypatch):
    from redis.asyncio import Redis

    url = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    probe = Redis.from_url(url)
    try:
        await probe.ping()
    except Exception:
        pytest.skip(f"no Redis at {url}")
    finally:
        await probe.aclose()
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"redis_url": url}))
    monkeypatch.setattr(runtime, "_redis_client", None, raising=False)
    monkeypatch.setattr(runtime, "_budget_store", None, raising=False)
    query = f"query Unique{uuid.uuid4().hex} {{ viewer {{ isPlatformAdmin }} }}"
    try:
        async with client(runtime) as http:
            await http.post("/graphql", json={"query": query, "extensions": apq(sha(query))},
                            headers={"Authorization": f"Bearer {token}"})
            forget_cache(runtime)
            hit = await http.post("/graphql", json={"extensions": apq(sha(query))},
                                  headers={"Authorization": f"Bearer {token}"})
        assert hit.json()["data"] == {"viewer": {"isPlatformAdmin": False}}
        redis = runtime.__dict__["_redis_client"]
        assert await redis.get(REDIS_PREFIX + sha(query)) == query
        await redis.delete(REDIS_PREFIX + sha(query))
        async with runtime.sessions() as session:
            assert await session.get(PersistedQuery, sha(query)) is None
    finally:
        redis = runtime.__dict__.get("_redis_client")
        if redis is not None:
            await redis.aclose()
