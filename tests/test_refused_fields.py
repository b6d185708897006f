"""A refused field never wipes out its siblings (issue 11, item 11; README "Refused fields").

The class of bug: a field whose resolver refuses per parent (FORBIDDEN / NOT_FOUND) while its
type is non-null makes GraphQL null the nearest nullable parent — for a field inside a list,
the whole list. The exploration test finds every such field without a list of them: it walks
the composed schema (core and every plugin), selects every field reachable from the roots,
runs the document as every demo role on the demo data, and checks that each refusal sits at
its own field's path with its parent object still there.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from graphql import (
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
    find_breaking_changes,
    get_named_type,
)

from gateway.demo import seed_demo
from gateway.refusals import empty_value_for
from gateway.testing import create_tables, make_test_runtime, run_query
from schema import models
from schema.testing import build_world

REFUSALS = {"FORBIDDEN", "NOT_FOUND"}
PAGE = 3  # first: on every connection, so the document stays small
EXPANSIONS_PER_TYPE = 2  # a type's fields are selected at its first two places in the document


@pytest.fixture(scope="module")
async def demo_runtime() -> AsyncIterator[Any]:
    runtime = make_test_runtime("sqlite", max_query_cost=10**9, max_depth=100, max_tokens=10**6)
    await create_tables(runtime)
    demo = await seed_demo(runtime)
    yield runtime, demo
    await runtime.dispose()


def _arguments(field: GraphQLField) -> str | None:
    """Arguments for ``field`` or None when it needs one we cannot invent."""
    if any(isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined for arg in field.args.values()):
        return None
    return f"(first: {PAGE})" if "first" in field.args else ""


def exploration_documents(schema: GraphQLSchema) -> list[str]:
    """One document per root field: every field reachable from it without required arguments."""
    expanded: dict[str, int] = {}

    def selection(named: Any, depth: int) -> str:
        if isinstance(named, (GraphQLInterfaceType, GraphQLUnionType)):
            members = schema.get_possible_types(named)
            return "{ __typename " + " ".join(f"... on {m.name} {selection(m, depth)}" for m in members) + " }"
        if expanded.get(named.name, 0) >= EXPANSIONS_PER_TYPE or depth > 8:
            return "{ __typename totalCount }" if "totalCount" in named.fields else "{ __typename }"
        expanded[named.name] = expanded.get(named.name, 0) + 1
        parts = ["__typename"]
        for name, field in named.fields.items():
            arguments = _arguments(field)
            if arguments is None or field.deprecation_reason:  # a deprecated field keeps its old contract
                continue
            inner = get_named_type(field.type)
            if isinstance(inner, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
                parts.append(f"{name}{arguments} {selection(inner, depth + 1)}")
            else:
                parts.append(f"{name}{arguments}")
        return "{ " + " ".join(parts) + " }"

    roots = []
    for name, field in schema.query_type.fields.items():
        arguments = _arguments(field)
        if arguments is None:
            continue
        expanded.clear()
        inner = get_named_type(field.type)
        roots.append("{ " + (f"{name}{arguments} {selection(inner, 1)}" if hasattr(inner, "fields") else f"{name}{arguments}") + " }")
    return roots


def value_at(data: Any, path: list[Any]) -> Any:
    for key in path:
        data = data[key]
    return data


async def test_every_refusal_keeps_the_parent_of_the_refused_field(demo_runtime: Any) -> None:
    runtime, demo = demo_runtime
    refusals_seen = 0
    for (role, token), document in itertools.product(demo.tokens.items(), exploration_documents(runtime.schema._schema)):
        result = await run_query(runtime, document, token=token)
        assert result.data is not None, (role, document[:40], result.errors[:3])
        for error in result.errors:
            if error.get("extensions", {}).get("code") not in REFUSALS or "path" not in error:
                continue
            refusals_seen += 1
            parent = value_at(result.data, error["path"][:-1])
            assert parent is not None, f"{role}: refusing {error['path']} wiped out its parent"
            refused = parent[error["path"][-1]]
            assert refused in (None, []) or refused.get("totalCount") == 0, (role, error["path"], refused)
    assert refusals_seen > 50  # the walk reached refused fields: it is not vacuous


def test_every_non_null_field_that_resolves_gets_an_empty_value_or_is_a_known_non_refuser(demo_runtime: Any) -> None:
    """Non-null lists and connections with a resolver are wrapped; the rest resolve without refusing."""
    runtime, _ = demo_runtime
    unwrapped = []
    for type_name, named in runtime.schema._schema.type_map.items():
        if type_name.startswith("__") or not isinstance(named, GraphQLObjectType):
            continue
        for field_name, field in named.fields.items():
            definition = (field.extensions or {}).get("strawberry-definition")
            if definition is None or definition.base_resolver is None or empty_value_for(field.type) is None:
                continue
            if not getattr(field.resolve, "tolerates_refusals", False):
                unwrapped.append(f"{type_name}.{field_name}")
    assert unwrapped == []


async def test_an_analyst_listing_organizations_gets_every_name_and_one_error_per_refused_members(runtime: Any) -> None:
    world = await build_world(runtime)
    query = "{ organizations { nodes { name members { totalCount nodes { role } } } } }"
    result = await run_query(runtime, query, token=world.tokens["reseller_analyst"])
    nodes = result.data["organizations"]["nodes"]
    assert sorted(n["name"] for n in nodes) == ["Acme Inc", "Unverified Inc"]
    assert all(n["members"] == {"totalCount": 0, "nodes": []} for n in nodes)
    assert sorted(tuple(e["path"]) for e in result.errors) == [
        ("organizations", "nodes", i, "members") for i in range(len(nodes))]
    assert {e["extensions"]["code"] for e in result.errors} == {"FORBIDDEN"}
    assert {e["extensions"]["action"] for e in result.errors} == {"organization.read_members"}


async def test_a_refused_root_connection_keeps_the_other_root_fields(demo_runtime: Any) -> None:
    runtime, demo = demo_runtime
    query = "{ viewer { user { email } } outbox(first: 5) { totalCount nodes { subject } } }"
    result = await run_query(runtime, query, token=demo.tokens["partner_admin"])
    assert result.data["viewer"]["user"]["email"]
    assert result.data["outbox"] == {"totalCount": 0, "nodes": []}
    assert [(e["path"], e["extensions"]["code"]) for e in result.errors] == [(["outbox"], "FORBIDDEN")]


async def test_a_deal_whose_customer_left_keeps_its_figures_and_shows_a_null_customer(runtime: Any) -> None:
    world = await build_world(runtime)
    async with runtime.sessions() as session, session.begin():
        session.add(models.LargeDeal(partner_id=world.partners["reseller"], organization_id=world.organizations["acme"],
                                     product_code="MAIL", estimated_licenses=100, estimated_value=Decimal("1000"),
                                     currency="USD", expected_close_date=dt.date(2030, 1, 1)))
    tag = """mutation($input: TagPartnerInput!) { tagPartner(input: $input) { userErrors { code } } }"""
    await run_query(runtime, tag, {"input": {"organizationId": world.org_id("acme"), "partnerCode": "OTHER1"}},
                    token=world.tokens["org_super_admin"])
    deals = """query($id: ID!) { partner(id: $id) { name largeDeals { nodes { estimatedLicenses customer { domain } } } } }"""
    result = await run_query(runtime, deals, {"id": world.partner_id("reseller")}, token=world.tokens["reseller_analyst"])
    assert result.data["partner"]["name"] == "Resell One"
    assert result.data["partner"]["largeDeals"]["nodes"] == [{"estimatedLicenses": 100, "customer": None}]
    assert [(e["path"], e["extensions"]["code"]) for e in result.errors] == [
        (["partner", "largeDeals", "nodes", 0, "customer"], "FORBIDDEN")]
    # the contract's non-null `organization` stays as it was, deprecated in favour of `customer`
    old = runtime.schema._schema.type_map["LargeDeal"].fields["organization"]
    assert str(old.type) == "Organization!" and "customer" in old.deprecation_reason


async def test_an_allowed_viewer_still_reads_the_real_connection(runtime: Any) -> None:
    world = await build_world(runtime)
    query = "{ organizations { nodes { domain members { totalCount } } } }"
    result = await run_query(runtime, query, token=world.tokens["org_super_admin"])
    assert result.ok()["organizations"]["nodes"] == [{"domain": "acme.example", "members": {"totalCount": 3}}]


def test_making_a_refusable_field_nullable_is_listed_as_breaking_by_graphql_core() -> None:
    """Why lists and connections (typed non-null by API.md) resolve empty instead of becoming nullable."""
    from graphql import build_schema

    old = build_schema("type Query { deals: [Deal!]! } type Deal { organization: Org! } type Org { id: ID! }")
    new = build_schema("type Query { deals: [Deal!]! } type Deal { organization: Org } type Org { id: ID! }")
    changes = find_breaking_changes(old, new)
    assert [(c.type.name, c.description) for c in changes] == [
        ("FIELD_CHANGED_KIND", "Field Deal.organization changed type from Org! to Org.")]
