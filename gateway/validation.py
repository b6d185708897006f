"""Checks of a GraphQL document that need no database, run before anything else.

Parse (``GATEWAY_MAX_TOKENS``), the specification's rules (fragment cycles among them), depth
(``GATEWAY_MAX_DEPTH``), aliases (``GATEWAY_MAX_ALIASES``) and, with ``GATEWAY_ENV=production``,
no introspection for anonymous callers and no "Did you mean …" suggestions.

The HTTP layer runs the check before authenticating, opening a session or charging the cost
budget, so a refused document costs no SQL statement and no budget. The schema runs the same
(cached) check in place of strawberry's own validation (``DocumentValidation``), so every other
caller (the CLI, tests, persisted queries, batches) gets the same answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    NoSchemaIntrospectionCustomRule,
    parse,
    specified_rules,
    validate,
)
from strawberry.extensions import SchemaExtension
from strawberry.extensions.max_aliases import create_validator as alias_limit_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_limit_rule
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

CACHE_SIZE = 1024  # distinct documents remembered per schema (a client sends few distinct documents)
CACHEABLE_LENGTH = 16_384  # longer texts are checked every time: 1024 huge keys would hold ~1 GB


class DocumentChecker:
    """The errors of a document for this schema and settings; an empty tuple when it may run."""

    def __init__(self, schema: GraphQLSchema, settings: Any) -> None:
        self.schema = schema
        self.max_tokens: int = settings.max_tokens
        self.production: bool = bool(getattr(settings, "is_production", False))
        rules: tuple[type[ASTValidationRule], ...] = (
            *specified_rules, MaybeNullValidationRule, OneOfInputValidationRule,
            depth_limit_rule(settings.max_depth, None, None), alias_limit_rule(settings.max_aliases),
        )
        # production: the schema is for those who hold a token (partners' code generators); anonymous
        # callers may still ask __typename, which is not introspection of the schema
        anonymous_rules = (*rules, NoSchemaIntrospectionCustomRule) if self.production else rules
        self._rules = {False: rules, True: anonymous_rules}
        self._cached_check = lru_cache(maxsize=CACHE_SIZE)(self._check)

    def check(self, query: str, anonymous: bool) -> tuple[GraphQLError, ...]:
        if len(query) > CACHEABLE_LENGTH:
            return self._check(query, anonymous)
        return self._cached_check(query, anonymous)

    def _check(self, query: str, anonymous: bool) -> tuple[GraphQLError, ...]:
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError as error:
            return (_coded(error, PARSE_FAILED),)
        return self.check_document(document, anonymous)

    def check_document(self, document: DocumentNode, anonymous: bool) -> tuple[GraphQLError, ...]:
        errors = validate(self.schema, document, self._rules[anonymous], hide_suggestions=self.production)
        return tuple(_coded(error, VALIDATION_FAILED) for error in errors)


PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


def _coded(error: GraphQLError, code: str) -> GraphQLError:
    """Give a parse or validation error an ``extensions.code`` a client can branch on (as Apollo's do)."""
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": code}
    return error


def document_checker(schema: Any) -> DocumentChecker:
    """The checker of a composed schema (``build_schema`` attaches it)."""
    checker: DocumentChecker = schema.document_checker
    return checker


class DocumentValidation(SchemaExtension):
    """Validates with the schema's ``DocumentChecker`` instead of strawberry's rules (same answer as HTTP)."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        viewer = getattr(context.context, "viewer", None)
        anonymous = not getattr(viewer, "is_authenticated", False)
        checker = document_checker(context.schema)
        if context.query is not None:
            errors = checker.check(context.query, anonymous)
        else:
            assert context.graphql_document is not None
            errors = checker.check_document(context.graphql_document, anonymous)
        context.pre_execution_errors = list(errors)
        yield
