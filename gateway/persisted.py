"""Automatic persisted queries (Apollo's protocol), stored where every worker sees them.

A client sends ``extensions.persistedQuery = {"version": 1, "sha256Hash": <hex>}``:
- without ``query``: the stored query for the hash runs; an unknown hash answers
  ``PersistedQueryNotFound`` (code ``PERSISTED_QUERY_NOT_FOUND``) and the client retries with the query;
- with ``query``: the hash must be the query's SHA-256 (else ``PERSISTED_QUERY_HASH_MISMATCH``);
  the query is stored and runs.

Storage is the ``persisted_queries`` table, or Redis when ``GATEWAY_REDIS_URL`` is set; a bounded
per-process cache sits in front (a hash names one text forever, so the cache is never stale).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from sqlalchemy import select

from gateway.budget import shared_redis
from gateway.card_guard import CARD_NUMBER_CODE
from gateway.models import PersistedQuery
from gateway.sensitive import CARD_NUMBER_MESSAGE, contains_card_data

MAX_QUERY_LENGTH = 100_000
CACHE_SIZE = 2048
REDIS_PREFIX = "gateway:apq:"


class PersistedQueryError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


async def resolve_persisted_query(runtime: Any, query: str | None, extensions: dict[str, Any] | None) -> str | None:
    """The query text to run: the given one (stored when it carries a hash) or the stored one for a hash."""
    persisted = (extensions or {}).get("persistedQuery")
    if not persisted:
        return query
    if not isinstance(persisted, dict) or persisted.get("version") != 1 or not isinstance(persisted.get("sha256Hash"), str):
        raise PersistedQueryError("PERSISTED_QUERY_INVALID", "persistedQuery needs version 1 and a sha256Hash")
    digest = persisted["sha256Hash"].lower()
    if query is not None:
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise PersistedQueryError("PERSISTED_QUERY_HASH_MISMATCH", "provided sha256Hash does not match query")
        if len(query) > MAX_QUERY_LENGTH:
            raise PersistedQueryError("PERSISTED_QUERY_TOO_LARGE",
                                      f"a persisted query has at most {MAX_QUERY_LENGTH} characters")
        if contains_card_data(query):  # stored text (table or Redis) never holds card data; send it as variables
            raise PersistedQueryError(CARD_NUMBER_CODE, f"{CARD_NUMBER_MESSAGE} A persisted query is stored: it must "
                                      "not contain card data.")
        await _store(runtime, digest, query)
        return query
    stored = await _load(runtime, digest)
    if stored is None:
        raise PersistedQueryError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
    return stored


def _cache(runtime: Any) -> OrderedDict[str, str]:
    cache: OrderedDict[str, str] = runtime.__dict__.setdefault("_persisted_cache", OrderedDict())
    return cache


def _remember(runtime: Any, digest: str, query: str) -> None:
    cache = _cache(runtime)
    cache[digest] = query
    cache.move_to_end(digest)
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)


async def _load(runtime: Any, digest: str) -> str | None:
    cache = _cache(runtime)
    if digest in cache:
        cache.move_to_end(digest)
        return cache[digest]
    redis = shared_redis(runtime)
    query: str | None
    if redis is not None:
        query = await redis.get(REDIS_PREFIX + digest)
    else:
        async with runtime.sessions() as session:
            query = await session.scalar(select(PersistedQuery.query).where(PersistedQuery.sha256 == digest))
    if query is not None:
        _remember(runtime, digest, query)
    return query


async def _store(runtime: Any, digest: str, query: str) -> None:
    if digest in _cache(runtime):
        return
    redis = shared_redis(runtime)
    if redis is not None:
        await redis.set(REDIS_PREFIX + digest, query)
    else:
        async with runtime.engine.begin() as connection:
            await connection.execute(_insert_ignoring_duplicates(runtime, digest, query))
    _remember(runtime, digest, query)


def _insert_ignoring_duplicates(runtime: Any, digest: str, query: str) -> Any:
    """Another worker may store the same hash at the same moment: the second insert does nothing."""
    if runtime.settings.is_sqlite:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        return sqlite_insert(PersistedQuery).values(sha256=digest, query=query).on_conflict_do_nothing(
            index_elements=["sha256"])
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert
    return postgresql_insert(PersistedQuery).values(sha256=digest, query=query).on_conflict_do_nothing(
        index_elements=["sha256"])
