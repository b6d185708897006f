"""Automatic persisted queries (Apollo's protocol), stored where every worker sees them."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gateway.models import PersistedQuery


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
        await _store(runtime, digest, query)
        return query
    stored = await _load(runtime, digest)
    if stored is None:
        raise PersistedQueryError("PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
    return stored


async def _load(runtime: Any, digest: str) -> str | None:
    cache = runtime.__dict__.setdefault("_persisted_cache", {})
    if digest in cache:
        return cache[digest]
    async with runtime.sessions() as session:
        query = await session.scalar(select(PersistedQuery.query).where(PersistedQuery.sha256 == digest))
    if query is not None:
        cache[digest] = query
    return query


async def _store(runtime: Any, digest: str, query: str) -> None:
    cache = runtime.__dict__.setdefault("_persisted_cache", {})
    if digest in cache:
        return
    async with runtime.sessions() as session:
        if await session.get(PersistedQuery, digest) is None:
            try:
                async with session.begin():
                    session.add(PersistedQuery(sha256=digest, query=query))
            except IntegrityError:
                pass  # another worker stored it first
    cache[digest] = query
