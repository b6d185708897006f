"""``batch_field``: a result list may hold a parent's GatewayError; the GraphQL type is the item without it."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mypy.api
import pytest
from strawberry.types.base import get_object_definition

from gateway.batch import BatchField, _item_annotation, batch_field
from gateway.composition import extends
from gateway.context import Context
from gateway.errors import Forbidden, GatewayError
from gateway.hookspecs import hookimpl
from gateway.testing import create_tables, make_test_runtime, run_query
from schema.organizations.types import Organization
from schema.testing import build_world

ROOT = Path(__file__).resolve().parents[1]


async def domain_length(parents: list[Organization], ctx: Context) -> list[int | None | GatewayError]:
    """The domain's length; refused for domains starting with 'direct' (test plugin)."""
    return [Forbidden("not this one", reason="TEST") if p.domain.startswith("direct") else len(p.domain)
            for p in parents]


@extends(Organization)
class OrganizationDomainLength:
    domain_length = batch_field(domain_length)


@pytest.mark.parametrize(("annotation", "item"), [
    ("list[Partner | None]", "Partner | None"),
    ("list[Partner | None | GatewayError]", "Partner | None"),
    ("list[GatewayError | list['MailAlias']]", "list['MailAlias']"),
    ("list[Connection[MailUser] | Exception]", "Connection[MailUser]"),
    ("list[Forbidden | Partner | RuntimeError]", "Partner"),
    ("list[Partner | NotAnError]", "Partner | NotAnError"),  # an unknown name is a type, left to strawberry
    (list[int | None | GatewayError], int | None),
    (list[str], str),
])
def test_the_graphql_type_is_the_item_without_its_errors(annotation: Any, item: Any) -> None:
    # names of exception classes are looked up in the batch function's module (here: this one) and builtins
    assert _item_annotation(annotation, globals()) == item


def test_a_result_of_errors_only_or_not_a_list_is_refused() -> None:
    with pytest.raises(TypeError, match="not only errors"):
        _item_annotation("list[GatewayError | Exception]", globals())
    with pytest.raises(TypeError, match="not only errors"):
        _item_annotation(list[GatewayError | Forbidden])
    with pytest.raises(TypeError, match=r"returns list\[\.\.\.\]"):
        _item_annotation("Partner")


def test_the_field_keeps_its_batch_function_through_copies() -> None:
    field = get_object_definition(OrganizationDomainLength, strict=True).fields[0]
    assert isinstance(field, BatchField) and field.batch_fn is domain_length
    assert copy.copy(field).batch_fn is domain_length
    assert field.description == "The domain's length; refused for domains starting with 'direct' (test plugin)."


async def test_an_error_in_the_results_refuses_that_parent_alone() -> None:
    plugin = SimpleNamespace(gateway_types=hookimpl(lambda: []),
                             gateway_type_extensions=hookimpl(lambda: [OrganizationDomainLength]))
    runtime = make_test_runtime("sqlite", extra_plugins=[("lengths", plugin)])
    try:
        await create_tables(runtime)
        organization = runtime.schema.as_str().split("type Organization implements Node {", 1)[1].split("}", 1)[0]
        assert "domainLength: Int\n" in organization  # nullable Int: the GatewayError is no part of the type
        world = await build_world(runtime)
        result = await run_query(runtime, "{ organizations(first: 10) { nodes { domain domainLength } } }",
                                 token=world.tokens["platform_admin"])
        nodes = result.data["organizations"]["nodes"]
        assert {n["domain"]: n["domainLength"] for n in nodes} == {
            "acme.example": 12, "direct.example": None, "unverified.example": 18}
        assert [(e["path"], e["extensions"]["code"]) for e in result.errors] == [
            (["organizations", "nodes", [n["domain"] for n in nodes].index("direct.example"), "domainLength"],
             "FORBIDDEN")]
    finally:
        await runtime.dispose()


TYPED_DECORATORS = '''
# mypy: disallow-untyped-decorators
from typing import assert_type

import strawberry

from gateway.batch import BatchField, batch_field
from gateway.composition import extends
from gateway.context import Context


@strawberry.type
class Parent:
    pk: int


@extends(Parent)
class Extension:
    @batch_field(description="a batch field")
    @staticmethod
    async def child(parents: list[Parent], ctx: Context) -> list[str | None | Exception]:
        return [None for _ in parents]

    @batch_field
    @staticmethod
    async def count(parents: list[Parent], ctx: Context, first: int) -> list[int]:
        return [first for _ in parents]


assert_type(Extension, type[Extension])
assert_type(Extension.child, BatchField[Parent, [], str | None])
assert_type(Extension.child.batch_fn([Parent(pk=1)], Context.__new__(Context)), Awaitable[Sequence[str | None | Exception]])
Extension.count.batch_fn([Parent(pk=1)], Context.__new__(Context), first="one")  # E: the argument is an int
'''


def test_decorated_classes_and_batch_functions_keep_their_types(tmp_path: Path) -> None:
    """The project relaxes disallow_untyped_decorators for strawberry's own decorators (pyproject.toml);
    its decorators must stay typed: mypy checks this module with the rule on."""
    snippet = tmp_path / "typed_decorators.py"
    snippet.write_text(TYPED_DECORATORS.replace(
        "from typing import assert_type", "from collections.abc import Awaitable, Sequence\nfrom typing import assert_type"))
    stdout, stderr, status = mypy.api.run(["--config-file", str(ROOT / "pyproject.toml"), str(snippet)])
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and 'Argument "first"' in errors[0] and "int" in errors[0], stdout + stderr
