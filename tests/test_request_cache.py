"""The per-request cache: typed slots, the cached by-primary-key loader, and no string keys left."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from gateway.request_cache import ByPrimaryKey, RequestCache, Slot
from gateway.testing import count_statements
from schema.models import Organization as OrganizationRow
from schema.organizations.types import Organization, organizations_by_pk
from schema.testing import build_world

ROOT = Path(__file__).resolve().parent.parent


def test_slots_are_keys_by_identity_not_by_name() -> None:
    cache = RequestCache()
    first: Slot[dict[int, str]] = Slot("same", dict)
    second: Slot[dict[int, str]] = Slot("same", dict)
    cache.get(first)[1] = "one"
    assert cache.get(second) == {}  # two parts choosing the same name never see each other's values
    assert cache.peek(Slot("never", dict)) is None and first in cache
    cache.forget(first)
    assert first not in cache and cache.get(first) == {}
    assert cache.lock(first) is cache.lock(first)
    cache.clear()
    assert second not in cache


async def test_by_primary_key_reads_each_key_once_per_request_and_keeps_order(runtime: Any) -> None:
    world = await build_world(runtime)
    acme, direct = world.organizations["acme"], world.organizations["direct"]
    async with runtime.context(token=world.tokens["platform_admin"]) as ctx:
        with count_statements(runtime) as counter:
            found = await organizations_by_pk(ctx, [direct, None, acme, 10**9, direct])
            again = await organizations_by_pk(ctx, [acme, direct])
    assert [o.pk if o else None for o in found] == [direct, None, acme, None, direct]
    assert isinstance(found[0], Organization) and found[0] is found[4] and again == [found[2], found[0]]
    assert counter.count == 1  # the second call is served from the request's cache


async def test_remember_primes_the_cache_and_a_transaction_clears_it(runtime: Any) -> None:
    world = await build_world(runtime)
    loader = ByPrimaryKey("test_organizations", OrganizationRow, Organization.from_row)
    async with runtime.context(token=world.tokens["platform_admin"]) as ctx:
        known = (await organizations_by_pk(ctx, [world.organizations["acme"]]))[0]
        assert known is not None
        loader.remember(ctx, [(known.pk, known)])
        assert loader.cached(ctx) == {known.pk: known}
        async with ctx.transaction():
            pass
        assert loader.cached(ctx) == {}


def test_no_string_keyed_request_cache_and_no_copied_by_pk_helper() -> None:
    """Every per-request value goes through a declared Slot or ByPrimaryKey (gateway/request_cache.py)."""
    offenders = []
    for package in ("gateway", "schema", "plugins"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.Subscript) and ast.unparse(node.value).endswith("ctx.cache"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} ctx.cache[...]")
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and ast.unparse(node.func.value).endswith(".cache") and node.args \
                        and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} cache keyed by a string")
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and re.fullmatch(r"_+by_pk", node.name):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} a private by-pk helper: use ByPrimaryKey")
    assert not offenders, "\n".join(offenders)


async def test_converter_builds_each_object_once_and_serves_later_look_ups(runtime: Any) -> None:
    world = await build_world(runtime)
    loader = ByPrimaryKey("test_organizations_by_row", OrganizationRow, Organization.from_row)
    async with runtime.context(token=world.tokens["platform_admin"]) as ctx:
        rows = (await ctx.session.scalars(select(OrganizationRow).order_by(OrganizationRow.id))).all()
        convert = loader.converter(ctx)
        built = [convert(row) for row in rows]
        assert [convert(row) for row in rows] == built and all(a is b for a, b in zip(built, map(convert, rows), strict=True))
        with count_statements(runtime) as counter:
            assert await loader(ctx, [rows[0].id]) == [built[0]]
        assert counter.count == 0
