"""Query cost: computed from the parsed document before anything runs, and charged to a per-token budget.

The rule (documented for API users in the README of the analytics part):

- every field costs 1; ``__typename`` costs nothing and an introspection field (``__schema``,
  ``__type``) costs 1 whatever it selects;
- a connection field (its type is named ``...Connection``) costs 1 plus its own fields
  (``pageInfo``, ``totalCount``) plus ``n`` times what ``edges`` and ``nodes`` select, where ``n``
  is ``first`` or ``last`` (a literal, a variable, or the variable's default), or the default
  page size when neither is given, capped at ``GATEWAY_PAGE_SIZE_MAX``; nested connections
  therefore multiply;
- fragments count as if written inline; where fragments apply to different concrete types
  (``... on Organization``, ``... on Partner``) only the most expensive one counts, since an
  object has one type.

A request over ``GATEWAY_MAX_QUERY_COST`` is refused before execution (``QUERY_TOO_COMPLEX``,
its cost and the limit in the message); otherwise the cost is taken from the caller's budget
(``gateway.budget``), and ``RATE_LIMITED`` answers when the budget cannot pay.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    parse,
)

from gateway.errors import GatewayError, QueryTooComplex, RateLimited
from gateway.relay import DEFAULT_PAGE_SIZE

if TYPE_CHECKING:
    from gateway.context import Context

log = logging.getLogger("gateway.cost")

CONNECTION_SUFFIX = "Connection"
ITEM_FIELDS = frozenset({"edges", "nodes"})
INTROSPECTION_COST = 1
MAX_FRAGMENT_DEPTH = 50  # a cyclic document (invalid anyway) must not recurse forever


MAX_PARSE_TOKENS = 100_000  # a hard ceiling before authentication; GATEWAY_MAX_TOKENS applies during execution


CACHEABLE_LENGTH = 16_384  # longer texts are parsed every time: 1024 huge cached keys would hold ~1 GB


def parse_document(query: str) -> DocumentNode | None:
    """The parsed document, or None when it does not parse (execution then reports the syntax error)."""
    return _parse_cached(query) if len(query) <= CACHEABLE_LENGTH else _parse(query)


def _parse(query: str) -> DocumentNode | None:
    try:
        return parse(query, max_tokens=MAX_PARSE_TOKENS)
    except GraphQLError:
        return None


_parse_cached = lru_cache(maxsize=1024)(_parse)


def select_operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((op for op in operations if op.name and op.name.value == operation_name), None)


class _CostWalker:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode,
                 variables: Mapping[str, Any] | None, default_page_size: int, page_size_max: int) -> None:
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.variables = dict(variables or {})
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and isinstance(definition.default_value, IntValueNode):
                self.variables[name] = int(definition.default_value.value)
        self.default_page_size = min(default_page_size, page_size_max)
        self.page_size_max = page_size_max

    def selection_cost(self, selection_set: SelectionSetNode | None, parent: Any, depth: int = 0,
                       page_size: int = 1) -> int:
        """Cost of a selection set on ``parent`` (a GraphQL type, or None where the document is invalid).

        ``page_size`` is the item count of ``parent`` when it is a connection type.
        """
        if selection_set is None or depth > MAX_FRAGMENT_DEPTH:
            return 0
        common = 0
        by_type: dict[str, int] = {}
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                common += self.field_cost(selection, parent, depth, page_size)
                continue
            condition: str | None  # the fragment's type condition; None: the fragment applies to any type
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None:
                    continue
                condition, inner = fragment.type_condition.name.value, fragment.selection_set
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition.name.value if selection.type_condition else None
                inner = selection.selection_set
            else:  # pragma: no cover - graphql-core has no other selection kinds
                continue
            fragment_type = self.schema.get_type(condition) if condition else parent
            cost = self.selection_cost(inner, fragment_type or parent, depth + 1, page_size)
            if condition is None or parent is None or condition == getattr(parent, "name", None) \
                    or isinstance(fragment_type, (GraphQLInterfaceType, GraphQLUnionType)):
                common += cost  # applies to every object of the parent type
            else:
                by_type[condition] = by_type.get(condition, 0) + cost
        return common + max(by_type.values(), default=0)

    def field_cost(self, node: FieldNode, parent: Any, depth: int, parent_page_size: int = 1) -> int:
        name = node.name.value
        if name == "__typename":
            return 0
        if name.startswith("__"):
            return INTROSPECTION_COST
        field_def = parent.fields.get(name) if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)) else None
        field_type = get_named_type(field_def.type) if field_def is not None else None
        is_connection = field_type is not None and field_type.name.endswith(CONNECTION_SUFFIX)
        own = 1 + self.selection_cost(node.selection_set, field_type, depth,
                                      self.page_size(node) if is_connection else 1)
        is_item = name in ITEM_FIELDS and parent is not None and parent.name.endswith(CONNECTION_SUFFIX)
        return own * parent_page_size if is_item else own

    def page_size(self, node: FieldNode) -> int:
        for argument in node.arguments or ():
            if argument.name.value not in ("first", "last"):
                continue
            value: Any = None
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return max(0, min(value, self.page_size_max))
        return self.default_page_size


def query_cost(schema: GraphQLSchema, document: DocumentNode, *, variables: Mapping[str, Any] | None = None,
               operation_name: str | None = None, page_size_max: int = 100,
               default_page_size: int = DEFAULT_PAGE_SIZE) -> int:
    """The cost of the operation ``operation_name`` of ``document`` (0 when no operation matches)."""
    operation = select_operation(document, operation_name)
    if operation is None:
        return 0
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    walker = _CostWalker(schema, document, operation, variables, default_page_size, page_size_max)
    return walker.selection_cost(operation.selection_set, root)


@dataclass(frozen=True)
class CostCheck:
    """The outcome of pricing one request: the refusal to send instead of executing, if any."""

    cost: int
    refusal: GatewayError | None = None


def budget_subject(ctx: Context) -> str:
    """Whose budget pays: the API token, else (anonymous) the client address."""
    if ctx.viewer.token_id is not None:
        return f"token:{ctx.viewer.token_id}"
    client = getattr(getattr(ctx.request, "client", None), "host", None)
    return f"anonymous:{client or 'unknown'}"


def price_query(runtime: Any, query: str, variables: Mapping[str, Any] | None,
                operation_name: str | None) -> CostCheck:
    """The cost of ``query`` and, over ``GATEWAY_MAX_QUERY_COST``, the refusal. Pure: no I/O at all,
    so the HTTP layer can refuse before authenticating or opening a session."""
    document = parse_document(query)
    if document is None:
        return CostCheck(0)  # execution reports the syntax error
    settings = runtime.settings
    cost = query_cost(runtime.schema._schema, document, variables=variables, operation_name=operation_name,
                      page_size_max=settings.page_size_max)
    limit = settings.max_query_cost
    if cost > limit:
        return CostCheck(cost, QueryTooComplex(
            f"This query costs {cost}, over the limit of {limit} per query; ask for fewer items "
            f"(smaller `first`/`last`) or fewer nested connections.", cost=cost, limit=limit))
    return CostCheck(cost)


async def check_query_cost(ctx: Context, query: str, variables: Mapping[str, Any] | None,
                           operation_name: str | None, *, priced: CostCheck | None = None) -> CostCheck:
    """Price ``query`` (unless the caller already has: ``priced``); refuse it over the limit or when the
    budget is spent; fill ``ctx.cost``."""
    from gateway.budget import budget_store  # the store is per runtime

    settings = ctx.settings
    if priced is None:
        priced = price_query(ctx.runtime, query, variables, operation_name)
    if priced.refusal is not None or parse_document(query) is None:
        return priced
    cost, limit = priced.cost, settings.max_query_cost
    try:
        charge = await budget_store(ctx.runtime).charge(budget_subject(ctx), cost)
    except Exception:  # the budget protects the service; its store being down must not take the API down
        log.exception("cost budget store unavailable; request allowed without charging")
        ctx.cost.update({"requestedQueryCost": cost, "limit": limit})
        return CostCheck(cost)
    ctx.cost.update({
        "requestedQueryCost": cost,
        "maximumAvailable": settings.cost_budget_per_minute,
        "remaining": charge.remaining,
        "limit": limit,
    })
    if not charge.allowed:
        return CostCheck(cost, RateLimited(
            f"This query costs {cost} and your budget has {charge.remaining} left; it refills at "
            f"{settings.cost_budget_per_minute} per minute. Retry in {charge.retry_after} seconds.",
            cost=cost, remaining=charge.remaining, retryAfterSeconds=charge.retry_after))
    return CostCheck(cost)
