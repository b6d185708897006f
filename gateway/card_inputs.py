"""No mutation accepts card data in any of its input's strings: one rule for every mutation, core and plugins.

``refuse_card_data_in_mutations`` wraps the resolver of every field of the composed ``Mutation``
type. Before the mutation runs (no transaction, no SQL) it walks the ``input`` argument as
GraphQL coerced it — nested input objects, lists and JSON values alike — and, at the first
string holding a card number or a labelled CVV (``gateway.sensitive``), answers the payload with
one ``userErrors`` entry: code ``CARD_NUMBER_NOT_ACCEPTED`` and the input path of the field
(``["address", "line1"]``, ``["rules", "0", "match", "subject"]``). The value is never echoed.

A plugin's new mutation gets the rule without doing anything; the database guard
(``gateway.card_guard``) stays underneath for writes that do not come from a mutation.
Queries are not wrapped: a read stores nothing, and wrapping costs a call per field.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLNamedType, GraphQLResolveInfo, GraphQLSchema, get_named_type

from gateway.card_guard import CARD_NUMBER_CODE
from gateway.errors import DomainError, UserError
from gateway.sensitive import CARD_NUMBER_MESSAGE, find_card_data

if TYPE_CHECKING:  # the context is below the schema machinery; imported for annotations only
    from gateway.context import Context


def _guarded(resolve: Callable[..., Any], payload: Callable[[list[UserError]], Any] | None) -> Callable[..., Any]:
    def resolver(root: Any, info: GraphQLResolveInfo[Context], **kwargs: Any) -> Any:
        path = find_card_data(kwargs)
        if path is not None:
            field = list(path[1:]) or list(path)  # the path inside ``input``, as other userErrors give it
            if payload is None:  # no userErrors to answer with: a top-level error with the same code
                raise DomainError(CARD_NUMBER_CODE, CARD_NUMBER_MESSAGE, field)
            return payload([UserError(field=field, message=CARD_NUMBER_MESSAGE, code=CARD_NUMBER_CODE)])
        return resolve(root, info, **kwargs)

    setattr(resolver, "refuses_card_data", True)  # a marker on a plain function, read with getattr
    return resolver


def _payload_factory(strawberry_schema: Any, payload_type: GraphQLNamedType) -> Callable[[list[UserError]], Any] | None:
    definition = strawberry_schema.get_type_by_name(payload_type.name)
    origin = getattr(definition, "origin", None)
    if origin is None or "userErrors" not in getattr(payload_type, "fields", {}):
        return None
    parameters = inspect.signature(origin).parameters
    required = [name for name, p in parameters.items() if p.default is inspect.Parameter.empty and name != "user_errors"]

    def make(errors: list[UserError]) -> Any:
        return origin(user_errors=errors, **{name: None for name in required})

    return make


def refuse_card_data_in_mutations(strawberry_schema: Any) -> list[str]:
    """Wrap every mutation (core and plugins); returns the wrapped mutation names."""
    schema: GraphQLSchema = strawberry_schema._schema
    if schema.mutation_type is None:
        return []
    wrapped = []
    for name, field in schema.mutation_type.fields.items():
        if getattr(field.resolve, "refuses_card_data", False) or field.resolve is None:
            continue
        payload = _payload_factory(strawberry_schema, get_named_type(field.type))
        field.resolve = _guarded(field.resolve, payload)
        wrapped.append(name)
    return wrapped
