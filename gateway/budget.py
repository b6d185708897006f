"""The per-token query-cost budget: a token bucket shared by every worker.

A subject (an API token, or an anonymous client address) may spend up to ``capacity``
(``GATEWAY_COST_BUDGET_PER_MINUTE``) cost points; spent points come back continuously at
``capacity`` per minute. Every worker charges the same bucket:

- in the database table ``cost_budgets`` (``gateway.models.CostBudget``) with one conditional
  ``UPDATE ... WHERE refilled >= cost RETURNING``, atomic on PostgreSQL and SQLite alike;
- in Redis (``GATEWAY_REDIS_URL``) with one Lua script, atomic on the server.

Clocks: the caller's clock (``time.time``) is used on every store so that tests can drive it;
workers are expected to run NTP-synchronised clocks, as they do for token expiry.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Float, cast, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from gateway.db import UtcDateTime
from gateway.models import CostBudget

Clock = Callable[[], float]


@dataclass(frozen=True)
class Charge:
    allowed: bool
    remaining: int  # whole points left after this charge (or before it, when refused)
    retry_after: int  # seconds until the refused cost would fit; 0 when allowed


class BudgetStore(Protocol):
    capacity: int  # tokens per minute; a changed setting replaces the store

    async def charge(self, subject: str, cost: int) -> Charge: ...


def _retry_after(available: float, cost: int, per_second: float, capacity: int) -> int:
    if cost > capacity:
        return math.ceil(capacity / per_second)  # never fits: it is over the budget itself
    return max(1, math.ceil((cost - available) / per_second))


class DatabaseBudget:
    """Token buckets in the ``cost_budgets`` table; one atomic UPDATE per charge."""

    def __init__(self, engine: AsyncEngine, capacity: int, *, clock: Clock = time.time) -> None:
        self.engine, self.capacity, self.clock = engine, capacity, clock
        self.per_second = capacity / 60.0

    def _refilled(self, now: Any, dialect: str) -> Any:
        """SQL for the bucket's level at ``now``: the stored level plus what refilled since, capped."""
        elapsed: ColumnElement[Any]
        capped: Callable[..., ColumnElement[Any]]
        if dialect == "sqlite":
            # julianday is a double of days: ~40 µs of noise, rounded away at the millisecond
            elapsed = func.round((func.julianday(now) - func.julianday(CostBudget.updated_at)) * 86400.0, 3)
            capped = func.min
        else:
            elapsed = func.extract("epoch", now - CostBudget.updated_at)
            capped = func.least
        level = CostBudget.tokens + cast(elapsed, Float) * self.per_second
        return capped(cast(literal(self.capacity), Float), level)

    async def charge(self, subject: str, cost: int) -> Charge:
        moment = dt.datetime.fromtimestamp(self.clock(), dt.UTC)
        dialect = self.engine.dialect.name
        now = literal(moment, UtcDateTime())
        refilled = self._refilled(now, dialect)
        async with self.engine.begin() as connection:
            for _ in range(2):
                level = (await connection.execute(
                    update(CostBudget)
                    .where(CostBudget.subject == subject, refilled >= cost)
                    .values(tokens=refilled - cost, updated_at=now)
                    .returning(CostBudget.tokens)
                )).scalar_one_or_none()
                if level is not None:
                    return Charge(True, int(level), 0)
                current = (await connection.execute(
                    select(refilled).where(CostBudget.subject == subject))).scalar_one_or_none()
                if current is not None:
                    return Charge(False, int(current), _retry_after(current, cost, self.per_second, self.capacity))
                await connection.execute(self._insert_full(dialect, subject, moment))
        raise AssertionError("the budget row was inserted above")  # pragma: no cover

    def _insert_full(self, dialect: str, subject: str, moment: dt.datetime) -> Any:
        values = {"subject": subject, "tokens": float(self.capacity), "updated_at": moment}
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert
            return sqlite_insert(CostBudget).values(**values).on_conflict_do_nothing(index_elements=["subject"])
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert
        return postgresql_insert(CostBudget).values(**values).on_conflict_do_nothing(index_elements=["subject"])


_REDIS_CHARGE = """
local capacity = tonumber(ARGV[1])
local per_second = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * per_second)
local allowed = 0
if tokens >= cost then tokens = tokens - cost; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / per_second) + 60)
return {allowed, tostring(tokens)}
"""


class RedisBudget:
    """Token buckets in Redis hashes (``<prefix><subject>``), charged by one server-side script."""

    def __init__(self, client: Any, capacity: int, *, clock: Clock = time.time, prefix: str = "gateway:budget:") -> None:
        self.client, self.capacity, self.clock, self.prefix = client, capacity, clock, prefix
        self.per_second = capacity / 60.0
        self._script = client.register_script(_REDIS_CHARGE)

    async def charge(self, subject: str, cost: int) -> Charge:
        allowed, level = await self._script(
            keys=[self.prefix + subject], args=[self.capacity, self.per_second, self.clock(), cost])
        available = float(level)
        if int(allowed):
            return Charge(True, int(available), 0)
        return Charge(False, int(available), _retry_after(available, cost, self.per_second, self.capacity))


def shared_redis(runtime: Any) -> Any | None:
    """One Redis client per runtime when ``GATEWAY_REDIS_URL`` is set (budgets, persisted queries)."""
    url = runtime.settings.redis_url
    if not url:
        return None
    client = runtime.__dict__.get("_redis_client")
    if client is None:
        from redis.asyncio import Redis

        client = runtime.__dict__["_redis_client"] = Redis.from_url(url, decode_responses=True)
    return client


def budget_store(runtime: Any) -> BudgetStore:
    """The runtime's budget store: Redis when configured, else the database."""
    store: BudgetStore | None = runtime.__dict__.get("_budget_store")
    capacity = runtime.settings.cost_budget_per_minute
    if store is None or store.capacity != capacity:
        client = shared_redis(runtime)
        store = RedisBudget(client, capacity) if client is not None else DatabaseBudget(runtime.engine, capacity)
        runtime.__dict__["_budget_store"] = store
    return store
