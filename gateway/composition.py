"""Building one strawberry schema from what every plugin contributes.

Core types stay ordinary strawberry types. A plugin extends one with a class marked
``@extends(Target)``; the host adds its fields to ``Target`` while the schema is built
(``GatewaySchema.get_fields``), so no shared type definition is ever mutated and schemas
with and without a plugin can live in one process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar

import strawberry
from strawberry.extensions import MaxTokensLimiter, ParserCache
from strawberry.types.base import StrawberryObjectDefinition, get_object_definition
from strawberry.types.field import UNRESOLVED, StrawberryField

from gateway.card_inputs import refuse_card_data_in_mutations
from gateway.context import Context
from gateway.error_masking import MaskUnexpectedErrors
from gateway.errors import PluginContractError
from gateway.refusals import ReportRefusedFields, tolerate_refusals
from gateway.relay import Node
from gateway.scalars import SCALAR_OVERRIDES
from gateway.validation import DocumentChecker, DocumentValidation

EXTENDS_ATTR = "__gateway_extends__"


@strawberry.type(description="The root of every read.")
class Query:
    @strawberry.field(description="Fetch any object by its global ID; null when it does not exist or you may not see it.")
    async def node(self, info: strawberry.Info[Context, None], id: strawberry.ID) -> Node | None:
        found: Node | None = (await info.context.runtime.resolve_nodes(info.context, [id]))[0]
        return found

    @strawberry.field(description="Fetch many objects by global ID, in the order asked; null where not visible.")
    async def nodes(self, info: strawberry.Info[Context, None], ids: list[strawberry.ID]) -> list[Node | None]:
        found: list[Node | None] = await info.context.runtime.resolve_nodes(info.context, list(ids))
        return found


@strawberry.type(description="The root of every write. Each mutation is one transaction.")
class Mutation:
    pass


T = TypeVar("T")


def extends(target: type) -> Callable[[type[T]], type[T]]:
    """Mark a class whose fields are added to ``target`` (a strawberry type of another part)."""

    def mark(cls: type[T]) -> type[T]:
        if not hasattr(cls, "__strawberry_definition__"):
            cls = strawberry.type(cls)
        setattr(cls, EXTENDS_ATTR, target)
        return cls

    return mark


class GatewaySchema(strawberry.Schema):
    document_checker: DocumentChecker  # attached by build_schema once the graphql schema exists

    def __init__(self, *args: Any, extra_fields: dict[type, list[StrawberryField]], **kwargs: Any) -> None:
        self.extra_fields = extra_fields
        super().__init__(*args, **kwargs)

    hide_suggestions = False  # production: no "Did you mean" in variable coercion errors either

    def _get_execute_function(self) -> Any:
        execute = super()._get_execute_function()
        return partial(execute, hide_suggestions=True) if self.hide_suggestions else execute

    def get_fields(self, type_definition: StrawberryObjectDefinition) -> list[StrawberryField]:
        return [*type_definition.fields, *self.extra_fields.get(type_definition.origin, [])]

    def process_errors(self, errors: Any, execution_context: Any = None) -> None:
        """Expected errors are the client's business; MaskUnexpectedErrors logs the unexpected ones."""

    def get_field_for_type(self, field_name: str, type_name: str) -> StrawberryField | None:
        definition = self.get_type_by_name(type_name)
        if not isinstance(definition, StrawberryObjectDefinition):
            return None
        graphql_name = self.config.name_converter.get_graphql_name
        return next((f for f in self.get_fields(definition) if graphql_name(f) == field_name), None)


def _graphql_name(field: StrawberryField) -> str:
    return strawberry.schema.config.StrawberryConfig().name_converter.get_graphql_name(field)


def collect_extensions(contributions: Iterable[tuple[str, list[type]]]) -> dict[type, list[StrawberryField]]:
    """Fields per target type, refusing a field that the target or another plugin already has."""
    owners: dict[tuple[type, str], str] = {}
    extra: dict[type, list[StrawberryField]] = {}
    for plugin, classes in contributions:
        for cls in classes:
            target = getattr(cls, EXTENDS_ATTR, None)
            if target is None or not hasattr(target, "__strawberry_definition__"):
                raise PluginContractError(f"plugin {plugin!r}: {cls.__name__} must be marked @extends(<strawberry type>)")
            target_def = get_object_definition(target, strict=True)
            for own in target_def.fields:
                owners.setdefault((target, _graphql_name(own)), "the core type itself")
            for field in get_object_definition(cls, strict=True).fields:
                name = _graphql_name(field)
                where = f"{target_def.name}.{name}"
                if field.base_resolver is None:
                    raise PluginContractError(f"plugin {plugin!r}: field {where} needs a resolver")
                previous = owners.get((target, name))
                if previous is not None:
                    raise PluginContractError(f"field {where} is contributed by both {previous!r} and {plugin!r}")
                owners[(target, name)] = plugin
                _check_field_types(plugin, where, field)
                extra.setdefault(target, []).append(field)
    return extra


def _check_field_types(plugin: str, where: str, field: StrawberryField) -> None:
    try:
        # resolve the annotations now: a broken one names the plugin and field here, not at schema build
        if field.type is UNRESOLVED and field.type_annotation is not None:
            field.type_annotation.resolve()
        if field.type is UNRESOLVED:
            raise TypeError("its return type cannot be resolved")
        for argument in field.arguments:
            _ = argument.type  # reading the property resolves the argument's annotation (raises when broken)
    except Exception as error:
        raise PluginContractError(f"plugin {plugin!r}: field {where} has a broken type: {error}") from error


def build_schema(
    *,
    type_contributions: Iterable[tuple[str, list[type]]],
    extension_contributions: Iterable[tuple[str, list[type]]],
    settings: Any,
) -> GatewaySchema:
    extra = collect_extensions(extension_contributions)
    types: list[type] = []
    for plugin, classes in type_contributions:
        for cls in classes:
            if not hasattr(cls, "__strawberry_definition__"):
                raise PluginContractError(f"plugin {plugin!r}: {cls!r} is not a strawberry type")
            types.append(cls)
    has_mutations = bool(extra.get(Mutation))
    try:
        schema = GatewaySchema(
            query=Query,
            mutation=Mutation if has_mutations else None,
            types=types,
            extra_fields=extra,
            scalar_overrides=SCALAR_OVERRIDES,
            extensions=[
                MaskUnexpectedErrors,
                lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
                lambda: ParserCache(maxsize=512),
                DocumentValidation,  # the rules, depth and aliases: gateway.validation
                ReportRefusedFields,
            ],
        )
    except PluginContractError:
        raise
    except Exception as error:
        raise PluginContractError(f"the composed schema is invalid: {error}") from error
    tolerate_refusals(schema._schema)
    refuse_card_data_in_mutations(schema)  # every mutation's input, before any work
    schema.document_checker = DocumentChecker(schema._schema, settings)
    schema.hide_suggestions = bool(getattr(settings, "is_production", False))
    return schema
