"""Refused fields keep their siblings: a refused list or connection is empty, with one error at its path.

GraphQL nulls the nearest nullable parent when a non-null field raises. A permission
check per parent (``members`` of one organization among a hundred) would then wipe
out the whole list, siblings and all. The API contract (API.md) keeps lists and
connections non-null, so instead of raising through them, a refused list resolves to
``[]`` and a refused connection to an empty one (``totalCount: 0``), and the refusal
is reported as a ``FORBIDDEN`` (or ``NOT_FOUND``) error whose ``path`` is that field.
Scalars and objects that a viewer can be refused are nullable in the schema: they
resolve to null with the error at their path, as in GitHub's API.

``tolerate_refusals`` wraps the resolvers of every non-null list and connection field
of the composed schema, core and plugins alike, so a plugin gets the rule for free.
Plain attribute fields (no resolver of their own) are left untouched: they never refuse, and
wrapping them would cost a call per object.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
)
from strawberry.extensions import SchemaExtension

from gateway.errors import Forbidden, GatewayError, NotFound
from gateway.relay import make_connection

if TYPE_CHECKING:  # the context is below the schema machinery; imported for annotations only
    from gateway.context import Context

REFUSALS = (Forbidden, NotFound)
CONNECTION_FIELDS = {"edges", "nodes", "pageInfo", "totalCount"}


async def _zero() -> int:
    return 0


def _empty_connection() -> Any:
    return make_connection([], [], has_next=False, has_previous=False, count_total=_zero)


def _empty_list() -> list[Any]:
    return []


def empty_value_for(field_type: Any) -> Callable[[], Any] | None:
    """What a refused field of ``field_type`` resolves to, or None when it must be nullable instead."""
    if not isinstance(field_type, GraphQLNonNull):
        return None
    inner = field_type.of_type
    if isinstance(inner, GraphQLList):
        return _empty_list
    if isinstance(inner, GraphQLObjectType) and CONNECTION_FIELDS <= set(inner.fields):
        return _empty_connection
    return None


def _report(info: GraphQLResolveInfo[Context], error: GatewayError) -> None:
    info.context.refused_fields.append(GraphQLError(
        error.message, nodes=info.field_nodes, path=info.path.as_list(), extensions=error.extensions,
    ))


def _tolerant(resolve: Callable[..., Any], empty: Callable[[], Any]) -> Callable[..., Any]:
    async def settle(pending: Any, info: GraphQLResolveInfo[Context]) -> Any:
        try:
            return await pending
        except REFUSALS as error:
            _report(info, error)
            return empty()

    def resolver(root: Any, info: GraphQLResolveInfo[Context], **kwargs: Any) -> Any:
        try:
            result = resolve(root, info, **kwargs)
        except REFUSALS as error:
            _report(info, error)
            return empty()
        return settle(result, info) if inspect.isawaitable(result) else result

    setattr(resolver, "tolerates_refusals", True)  # a marker on a plain function, read with getattr
    return resolver


def tolerate_refusals(schema: GraphQLSchema) -> list[str]:
    """Wrap every non-null list or connection field that has a resolver; returns their coordinates."""
    wrapped = []
    for type_name, named_type in schema.type_map.items():
        if type_name.startswith("__") or not isinstance(named_type, GraphQLObjectType):
            continue
        for field_name, field in named_type.fields.items():
            empty = empty_value_for(field.type)
            definition = (field.extensions or {}).get("strawberry-definition")
            if empty is None or definition is None or definition.base_resolver is None:
                continue  # nullable, or a plain attribute: it never refuses
            if getattr(field.resolve, "tolerates_refusals", False):
                continue
            field.resolve = _tolerant(field.resolve, empty)
            wrapped.append(f"{type_name}.{field_name}")
    return wrapped


class ReportRefusedFields(SchemaExtension):
    """Adds the errors of refused fields (resolved to an empty value) to the response."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        refused = getattr(self.execution_context.context, "refused_fields", None)
        if result is None or not refused:
            return
        result.errors = [*(result.errors or []), *refused]
        refused.clear()
