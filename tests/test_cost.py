"""Query cost: priced from the document before execution, limited per query, charged to a shared budget."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from typing import Any

import httpx
import pytest

from gateway.budget import DatabaseBudget, RedisBudget, budget_store
from gateway.cost import parse_document, query_cost
from gateway.db import create_engine, utcnow
from gateway.http import create_app
from gateway.models import CostBudget, PersistedQuery
from gateway.relay import DEFAULT_PAGE_SIZE
from gateway.testing import count_statements
from schema.testing import build_world

REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def cost(runtime: Any, query: str, **kwargs: Any) -> int:
    return query_cost(runtime.schema._schema, parse_document(query), page_size_max=100, **kwargs)


def client(runtime: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://gateway")


async def post(runtime: Any, query: str | None, token: str | None = None, **body: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with client(runtime) as http:
        return await http.post("/graphql", json={"query": query, **body}, headers=headers)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def with_settings(monkeypatch: pytest.MonkeyPatch, runtime: Any, **changes: Any) -> FakeClock:
    """Changed settings for this test, and a budget store on a clock that only moves when told."""
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update=changes))
    clock = FakeClock()
    store = DatabaseBudget(runtime.engine, runtime.settings.cost_budget_per_minute, clock=clock)
    monkeypatch.setattr(runtime, "_budget_store", store, raising=False)
    return clock


# ---------------------------------------------------------------- pricing the document
async def test_each_field_costs_one_and_typename_is_free(runtime):
    assert cost(runtime, "{ viewer { isPlatformAdmin user { id email name } } }") == 1 + 1 + (1 + 3)
    assert cost(runtime, "{ viewer { __typename isPlatformAdmin } }") == 2


async def test_connection_multiplies_items_by_first_or_last(runtime):
    # organizations 1 + totalCount 1 + pageInfo (1 + 1) + 10 × (edges 1 + cursor 1 + node (1 + id + name))
    query = "{ organizations(first: 10) { totalCount pageInfo { hasNextPage } edges { cursor node { id name } } } }"
    assert cost(runtime, query) == 1 + 1 + 2 + 10 * (1 + 1 + 3)
    assert cost(runtime, "{ organizations(last: 4) { nodes { id } } }") == 1 + 4 * 2


async def test_connection_without_first_counts_the_default_page_size(runtime):
    assert cost(runtime, "{ organizations { nodes { id } } }") == 1 + DEFAULT_PAGE_SIZE * 2


async def test_nested_connections_multiply(runtime):
    query = "{ partners(first: 5) { nodes { customers(first: 20) { nodes { id name } } } } }"
    assert cost(runtime, query) == 1 + 5 * (1 + (1 + 20 * (1 + 2)))


async def test_variables_and_their_defaults_set_the_page_size(runtime):
    query = "query($n: Int = 3) { organizations(first: $n) { nodes { id } } }"
    assert cost(runtime, query) == 1 + 3 * 2
    assert cost(runtime, query, variables={"n": 30}) == 1 + 30 * 2
    assert cost(runtime, query, variables={"n": 5000}) == 1 + 100 * 2  # capped like the page size itself


async def test_fragments_count_as_written_inline(runtime):
    inline = "{ organizations(first: 7) { nodes { id name domain } } }"
    spread = """{ organizations(first: 7) { ...Page } }
        fragment Page on OrganizationConnection { nodes { ...Org } }
        fragment Org on Organization { id name domain }"""
    assert cost(runtime, spread) == cost(runtime, inline) == 1 + 7 * 4


async def test_fragments_on_different_types_count_the_most_expensive(runtime):
    query = '{ node(id: "x") { id ... on Organization { name domain status } ... on Partner { name } } }'
    assert cost(runtime, query) == 1 + 1 + 3


async def test_the_named_operation_is_priced(runtime):
    document = "query Small { viewer { isPlatformAdmin } } query Big { organizations(first: 100) { nodes { id } } }"
    assert cost(runtime, document, operation_name="Small") == 2
    assert cost(runtime, document, operation_name="Big") == 201


async def test_introspection_is_cheap(runtime):
    assert cost(runtime, "{ __schema { types { name fields { name type { name } } } } }") == 1


async def test_cyclic_fragments_do_not_hang_the_pricing(runtime):
    query = "{ viewer { ...A } } fragment A on Viewer { user { id } ...B } fragment B on Viewer { ...A }"
    assert cost(runtime, query) > 0  # invalid (validation refuses it), but priced in bounded time


# ---------------------------------------------------------------- over HTTP
BIG = "{ partners(first: 100) { nodes { customers(first: 100) { nodes { id name domain } } } } }"


@pytest.mark.parametrize("role", ["platform_admin", "anonymous"])
async def test_query_over_the_limit_is_refused_before_touching_the_database(runtime, monkeypatch, role):
    world = await build_world(runtime)
    with_settings(monkeypatch, runtime, max_query_cost=1000)
    expected = 1 + 100 * (1 + (1 + 100 * 4))
    with count_statements(runtime) as counter:
        response = await post(runtime, BIG, world.tokens[role])  # not even the token is looked up
    body = response.json()
    assert counter.count == 0
    assert "data" not in body
    error = body["errors"][0]
    assert error["extensions"] == {"code": "QUERY_TOO_COMPLEX", "cost": expected, "limit": 1000}
    assert f"costs {expected}" in error["message"] and "limit of 1000" in error["message"]


async def test_refusal_status_follows_the_media_type(runtime, monkeypatch):
    with_settings(monkeypatch, runtime, max_query_cost=10)
    async with client(runtime) as http:
        modern = await http.post("/graphql", json={"query": BIG},
                                 headers={"Accept": "application/graphql-response+json"})
        legacy = await http.post("/graphql", json={"query": BIG}, headers={"Accept": "application/json"})
    assert modern.status_code == 400
    assert legacy.status_code == 200
    assert modern.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_cost_and_budget_are_reported_in_extensions(runtime, monkeypatch):
    world = await build_world(runtime)
    with_settings(monkeypatch, runtime, max_query_cost=5000, cost_budget_per_minute=1000)
    query = "{ organizations(first: 10) { nodes { id } } }"
    first = (await post(runtime, query, world.tokens["platform_admin"])).json()
    second = (await post(runtime, query, world.tokens["platform_admin"])).json()
    assert len(first["data"]["organizations"]["nodes"]) == 3
    assert first["extensions"]["cost"] == {"requestedQueryCost": 21, "maximumAvailable": 1000,
                                           "remaining": 979, "limit": 5000}
    assert second["extensions"]["cost"]["remaining"] == 958


async def test_budgets_are_per_token(runtime, monkeypatch):
    world = await build_world(runtime)
    with_settings(monkeypatch, runtime, cost_budget_per_minute=1000)
    query = "{ organizations(first: 100) { nodes { id } } }"  # 201
    await post(runtime, query, world.tokens["platform_admin"])
    other = (await post(runtime, query, world.tokens["reseller_admin"])).json()
    assert other["extensions"]["cost"]["remaining"] == 1000 - 201


async def test_spent_budget_answers_429_with_retry_after(runtime, monkeypatch):
    world = await build_world(runtime)
    clock = with_settings(monkeypatch, runtime, cost_budget_per_minute=500)
    query = "{ organizations(first: 100) { nodes { id name } } }"  # 301
    ok = await post(runtime, query, world.tokens["platform_analyst"])
    assert ok.status_code == 200 and "errors" not in ok.json()
    with count_statements(runtime) as counter:
        refused = await post(runtime, query, world.tokens["platform_analyst"])
    assert refused.status_code == 429
    body = refused.json()
    assert "data" not in body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert error["extensions"]["cost"] == 301
    assert error["extensions"]["remaining"] == 199
    # 102 points missing at 500 a minute: 12.24 s, rounded up
    assert refused.headers["Retry-After"] == "13" == str(error["extensions"]["retryAfterSeconds"])
    assert body["extensions"]["cost"]["requestedQueryCost"] == 301
    # authentication and the budget only: no resolver ran
    assert counter.statements and not any("from organizations" in s.lower() for s in counter.statements)
    clock.now += 13  # refilled 108 points: 307 available
    again = await post(runtime, query, world.tokens["platform_analyst"])
    assert again.status_code == 200
    assert again.json()["extensions"]["cost"]["remaining"] == 307 - 301


# ---------------------------------------------------------------- the budget stores
async def _bucket_behaviour(store: Any, clock: FakeClock, subject: str) -> None:
    first = await store.charge(subject, 400)
    assert (first.allowed, first.remaining) == (True, 200)
    refused = await store.charge(subject, 300)
    assert (refused.allowed, refused.remaining, refused.retry_after) == (False, 200, 10)
    clock.now += 10  # 600 per minute: 10 seconds bring back 100
    again = await store.charge(subject, 300)
    assert (again.allowed, again.remaining) == (True, 0)
    clock.now += 3600  # refills to the capacity, never above
    full = await store.charge(subject, 0)
    assert (full.allowed, full.remaining) == (True, 600)
    assert (await store.charge(subject, 601)).allowed is False  # more than the whole budget


async def test_database_budget_refills_over_time(runtime):
    clock = FakeClock()
    await _bucket_behaviour(DatabaseBudget(runtime.engine, 600, clock=clock), clock, "token:1")


async def test_database_budget_is_shared_by_workers(runtime):
    """Two stores on one database (two workers) draw from the same bucket."""
    clock = FakeClock()
    worker_a = DatabaseBudget(runtime.engine, 600, clock=clock)
    worker_b = DatabaseBudget(runtime.engine, 600, clock=clock)
    assert (await worker_a.charge("token:7", 500)).allowed
    refused = await worker_b.charge("token:7", 200)
    assert (refused.allowed, refused.remaining) == (False, 100)


@pytest.fixture
async def pooled_engine(runtime: Any, tmp_path: Any) -> Any:
    """An engine with a real connection pool (the test engine shares one SQLite connection)."""
    if not runtime.settings.is_sqlite:
        yield runtime.engine
        return
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'budget.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(CostBudget.__table__.create)
    yield engine
    await engine.dispose()


async def test_concurrent_charges_never_overspend(pooled_engine):
    clock = FakeClock()
    store = DatabaseBudget(pooled_engine, 1000, clock=clock)
    await store.charge("token:9", 0)  # the row exists; the race is on the UPDATE
    results = await asyncio.gather(*[store.charge("token:9", 100) for _ in range(25)])
    assert sum(r.allowed for r in results) == 10
    assert (await store.charge("token:9", 1)).allowed is False


async def test_concurrent_first_charges_create_one_bucket(pooled_engine):
    clock = FakeClock()
    store = DatabaseBudget(pooled_engine, 1000, clock=clock)
    results = await asyncio.gather(*[store.charge("token:new", 300) for _ in range(6)])
    assert sum(r.allowed for r in results) == 3


async def _redis_client() -> Any:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await asyncio.wait_for(client.ping(), 1)
    except Exception:
        await client.aclose()
        pytest.skip(f"no Redis at {REDIS_URL}")
    return client


async def test_redis_budget_refills_over_time():
    client = await _redis_client()
    try:
        clock = FakeClock()
        prefix = f"test:budget:{uuid.uuid4().hex}:"
        await _bucket_behaviour(RedisBudget(client, 600, clock=clock, prefix=prefix), clock, "token:1")
        worker_b = RedisBudget(client, 600, clock=clock, prefix=prefix)
        results = await asyncio.gather(*[worker_b.charge("token:2", 100) for _ in range(10)])
        assert sum(r.allowed for r in results) == 6
        assert 0 < await client.ttl(prefix + "token:2") <= 120
        await client.delete(prefix + "token:1", prefix + "token:2")
    finally:
        await client.aclose()


async def test_redis_is_used_when_configured(runtime, monkeypatch):
    client = await _redis_client()
    await client.aclose()
    world = await build_world(runtime)
    with_settings(monkeypatch, runtime, redis_url=REDIS_URL, cost_budget_per_minute=777)
    monkeypatch.setattr(runtime, "_redis_client", None, raising=False)
    monkeypatch.setattr(runtime, "_budget_store", None)  # chosen from the settings, as at start
    try:
        store = budget_store(runtime)
        assert isinstance(store, RedisBudget)
        query = "{ organizations(first: 2) { nodes { id } } }"
        body = (await post(runtime, query, world.tokens["platform_admin"])).json()
        assert body["extensions"]["cost"]["maximumAvailable"] == 777
        key = f"gateway:budget:token:{await _token_id(runtime, world)}"
        redis = runtime.__dict__["_redis_client"]
        assert float(await redis.hget(key, "tokens")) <= 777 - 5
        await redis.delete(key)
    finally:
        redis = runtime.__dict__.get("_redis_client")
        if redis is not None:
            await redis.aclose()


async def _token_id(runtime: Any, world: Any) -> int:
    async with runtime.context(token=world.tokens["platform_admin"]) as ctx:
        return ctx.viewer.token_id


async def test_an_unavailable_budget_store_fails_open(runtime, monkeypatch):
    world = await build_world(runtime)

    class Broken:
        capacity = runtime.settings.cost_budget_per_minute

        async def charge(self, subject: str, cost: int) -> Any:
            raise ConnectionError("redis is down")

    monkeypatch.setattr(runtime, "_budget_store", Broken(), raising=False)
    response = await post(runtime, "{ organizations(first: 1) { nodes { id } } }", world.tokens["platform_admin"])
    assert response.status_code == 200
    body = response.json()
    assert len(body["data"]["organizations"]["nodes"]) == 1
    assert body["extensions"]["cost"] == {"requestedQueryCost": 3, "limit": runtime.settings.max_query_cost}


async def test_persisted_query_over_the_limit_is_refused_once_loaded(runtime, monkeypatch):
    world = await build_world(runtime)
    with_settings(monkeypatch, runtime, max_query_cost=1000)
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(BIG.encode()).hexdigest()}}
    async with runtime.engine.begin() as connection:
        await connection.execute(PersistedQuery.__table__.insert().values(
            sha256=extensions["persistedQuery"]["sha256Hash"], query=BIG, created_at=utcnow()))
    runtime.__dict__.pop("_persisted_cache", None)
    response = await post(runtime, None, world.tokens["platform_admin"], extensions=extensions)
    runtime.__dict__.pop("_persisted_cache", None)
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["limit"] == 1000


async def test_each_operation_of_a_batch_is_priced(runtime, monkeypatch):
    world = await build_world(runtime)
    with_settings(monkeypatch, runtime, max_query_cost=1000, batching=True)
    async with client(runtime) as http:
        response = await http.post("/graphql", json=[{"query": "{ viewer { isPlatformAdmin } }"}, {"query": BIG}],
                                   headers={"Authorization": f"Bearer {world.tokens['platform_admin']}"})
    small, big = response.json()
    assert small["data"] == {"viewer": {"isPlatformAdmin": True}}
    assert small["extensions"]["cost"]["requestedQueryCost"] == 2
    assert big["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
