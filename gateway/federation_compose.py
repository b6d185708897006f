"""Checking and composing Federation 2 subgraph SDL with graphql-core (the rules :mod:`gateway.federation` follows).

Not Apollo's composition (``.ci/federation_compose.sh`` runs that one): a smaller composer for the
subgraphs this host exports. A subgraph is valid when it parses and builds with the federation
directives defined, links the federation spec importing every federation directive it uses, and each
``@key`` names fields of its type. Composing strips the federation directives and merges types by
name: an entity's fields are the union of its subgraphs' fields (a field in several subgraphs must
be shareable, ``@key`` or ``@shareable``, in each, and defined alike); a value type (an object type
without ``@key``) and every other kind of type must be defined alike in every subgraph that has it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from graphql import GraphQLError, GraphQLSchema, OperationType, build_ast_schema, parse, print_ast, validate_schema
from graphql.language import ast

from gateway.federation import FEDERATION_DIRECTIVES, KEY, LINK, SHAREABLE, FederationError

FEDERATION_SPEC = "https://specs.apollo.dev/federation/v2."
# The federation directives as the spec defines them, to build a subgraph with graphql-core.
FEDERATION_DEFINITIONS = '''
scalar FieldSet
scalar link__Import
enum link__Purpose { SECURITY EXECUTION }
directive @link(url: String!, as: String, for: link__Purpose, import: [link__Import]) repeatable on SCHEMA
directive @key(fields: FieldSet!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
directive @shareable on OBJECT | FIELD_DEFINITION
'''
STRIPPED = frozenset({*FEDERATION_DIRECTIVES, LINK})
DEFAULT_ROOTS = tuple(operation.value.capitalize() for operation in OperationType)  # Query, Mutation, ...


def check_subgraph(name: str, sdl: str) -> list[str]:
    """Why ``sdl`` is not a valid subgraph by the rules this host follows ([] when it is)."""
    try:
        document = parse(sdl, no_location=True)
    except GraphQLError as error:
        return [f"subgraph {name!r} does not parse: {error.message}"]
    problems: list[str] = []
    links = [d for definition in document.definitions if isinstance(definition, ast.SchemaExtensionNode)
             for d in definition.directives or () if d.name.value == LINK]
    imported = {_string(value) for link in links for argument in link.arguments or ()
                if argument.name.value == "import" and isinstance(argument.value, ast.ListValueNode)
                for value in argument.value.values}
    if not any(_string(_argument(link, "url")).startswith(FEDERATION_SPEC) for link in links):
        problems.append(f"subgraph {name!r} does not @link the federation 2 spec ({FEDERATION_SPEC}x)")
    used = {d.name.value for definition in document.definitions for d in _directives_in(definition)}
    problems += [f"subgraph {name!r} uses @{directive} without importing it"
                 for directive in sorted(used & set(FEDERATION_DIRECTIVES)) if f"@{directive}" not in imported]
    try:
        build_ast_schema(parse(sdl + FEDERATION_DEFINITIONS, no_location=True))
    except (GraphQLError, TypeError) as error:
        problems.append(f"subgraph {name!r} is not a valid schema: {' '.join(str(error).split())}")
    for definition in document.definitions:
        if not isinstance(definition, (ast.ObjectTypeDefinitionNode, ast.InterfaceTypeDefinitionNode)):
            continue
        fields = {f.name.value for f in definition.fields or ()}
        for key in (d for d in definition.directives or () if d.name.value == KEY):
            for missing in sorted(set(_string(_argument(key, "fields")).split()) - fields):
                problems.append(f"subgraph {name!r}: @key of {definition.name.value} names {missing!r}, "
                                "which is not one of its fields")
    return problems


def compose(subgraphs: Mapping[str, str]) -> GraphQLSchema:
    """One schema from subgraph SDLs (name -> SDL); raises FederationError listing every problem."""
    problems = [problem for name, sdl in subgraphs.items() for problem in check_subgraph(name, sdl)]
    if problems:
        raise FederationError(problems)
    found: dict[str, list[tuple[str, ast.TypeDefinitionNode]]] = {}
    directives: dict[str, ast.DirectiveDefinitionNode] = {}
    for name, sdl in subgraphs.items():
        for definition in parse(sdl, no_location=True).definitions:
            if isinstance(definition, ast.TypeDefinitionNode):
                found.setdefault(definition.name.value, []).append((name, definition))
            elif isinstance(definition, ast.DirectiveDefinitionNode):
                directives.setdefault(definition.name.value, definition)
            elif not isinstance(definition, ast.SchemaExtensionNode):
                problems.append(f"subgraph {name!r}: {definition.kind} is not supported here")
    roots = {*DEFAULT_ROOTS, *(t.type.name.value for name, sdl in subgraphs.items()
                               for d in parse(sdl, no_location=True).definitions
                               if isinstance(d, (ast.SchemaDefinitionNode, ast.SchemaExtensionNode))
                               for t in d.operation_types or ())}
    merged: list[ast.DefinitionNode] = [*directives.values()]
    for type_name, definitions in found.items():
        kinds = {definition.kind for _, definition in definitions}
        if len(kinds) > 1:
            problems.append(f"{type_name} is not the same kind of type in {_names(definitions)}")
        elif isinstance(definitions[0][1], ast.ObjectTypeDefinitionNode):
            merged.append(_merge_object(type_name, definitions, problems, root=type_name in roots))
        else:
            merged.append(_same_everywhere(type_name, definitions, problems))
    if problems:
        raise FederationError(problems)
    schema = build_ast_schema(ast.DocumentNode(definitions=tuple(merged)))
    invalid = [error.message for error in validate_schema(schema)]
    if invalid:
        raise FederationError([f"the composed schema is invalid: {message}" for message in invalid])
    return schema


def _merge_object(type_name: str, definitions: list[tuple[str, ast.TypeDefinitionNode]],
                  problems: list[str], *, root: bool) -> ast.ObjectTypeDefinitionNode:
    """An object type's definitions merged: an entity's or a root's fields united, a value type's checked alike."""
    objects = [(name, d) for name, d in definitions if isinstance(d, ast.ObjectTypeDefinitionNode)]
    entity = [any(d.name.value == KEY for d in definition.directives or ()) for _, definition in objects]
    if len(objects) > 1 and not root and not all(entity):
        if any(entity):
            problems.append(f"{type_name} is an entity (@key) in some of {_names(objects)} but not in all")
        elif len({tuple(f.name.value for f in d.fields or ()) for _, d in objects}) > 1:
            problems.append(f"value type {type_name} differs between subgraphs {_names(objects)}: "
                            "a type without @key must have the same fields everywhere")
    fields: dict[str, tuple[str, ast.FieldDefinitionNode, bool]] = {}
    for name, definition in objects:
        for field in definition.fields or ():
            field_name = field.name.value
            shareable = _is_shareable(definition, field)
            if field_name not in fields:
                fields[field_name] = (name, field, shareable)
                continue
            first_name, first_field, first_shareable = fields[field_name]
            if not (first_shareable and shareable):
                problems.append(f"field {type_name}.{field_name} is defined in subgraphs {first_name!r} and {name!r} "
                                "and is not shareable (@key or @shareable) in both")
            elif _print(first_field) != _print(field):
                problems.append(f"field {type_name}.{field_name} differs between subgraphs {first_name!r} and {name!r}: "
                                f"{_print(first_field)} / {_print(field)}")
    first = objects[0][1]
    descriptions = {d.description.value for _, d in objects if d.description is not None}
    if len(descriptions) > 1:
        problems.append(f"{type_name} has different descriptions in {_names(objects)}")
    interfaces = {i.name.value: i for _, d in objects for i in d.interfaces or ()}
    return dataclasses.replace(first, directives=(), interfaces=tuple(interfaces.values()),
                               description=next((d.description for _, d in objects if d.description), None),
                               fields=tuple(_stripped_field(field) for _, field, _ in fields.values()))


def _is_shareable(definition: ast.ObjectTypeDefinitionNode, field: ast.FieldDefinitionNode) -> bool:
    """Federation 2: a field several subgraphs resolve is a key field or marked @shareable (itself or its type)."""
    keys = {name for d in definition.directives or () if d.name.value == KEY for name in _string(_argument(d, "fields")).split()}
    return (field.name.value in keys or any(d.name.value == SHAREABLE for d in definition.directives or ())
            or any(d.name.value == SHAREABLE for d in field.directives or ()))


def _same_everywhere(type_name: str, definitions: list[tuple[str, ast.TypeDefinitionNode]],
                     problems: list[str]) -> ast.TypeDefinitionNode:
    first_name, first = definitions[0]
    for name, definition in definitions[1:]:
        if _print(definition) != _print(first):
            problems.append(f"{type_name} differs between subgraphs {first_name!r} and {name!r} "
                            "(a type other than an entity must be defined alike in every subgraph)")
    return _stripped(first)


def _stripped(definition: ast.TypeDefinitionNode) -> ast.TypeDefinitionNode:
    """``definition`` without the federation directives (on itself and on its fields)."""
    kept = tuple(d for d in definition.directives or () if d.name.value not in STRIPPED)
    if isinstance(definition, (ast.ObjectTypeDefinitionNode, ast.InterfaceTypeDefinitionNode)):
        return dataclasses.replace(definition, directives=kept,
                                   fields=tuple(_stripped_field(f) for f in definition.fields or ()))
    return dataclasses.replace(definition, directives=kept)


def _stripped_field(field: ast.FieldDefinitionNode) -> ast.FieldDefinitionNode:
    return dataclasses.replace(field, directives=tuple(d for d in field.directives or () if d.name.value not in STRIPPED))


def _print(node: ast.TypeDefinitionNode | ast.FieldDefinitionNode) -> str:
    return print_ast(_stripped_field(node) if isinstance(node, ast.FieldDefinitionNode) else _stripped(node))


def _directives_in(definition: ast.DefinitionNode) -> list[ast.DirectiveNode]:
    found = list(getattr(definition, "directives", None) or ())
    for field in getattr(definition, "fields", None) or ():
        found += field.directives or ()
    return found


def _argument(directive: ast.DirectiveNode, name: str) -> ast.ValueNode | None:
    return next((a.value for a in directive.arguments or () if a.name.value == name), None)


def _string(value: ast.ValueNode | None) -> str:
    return value.value if isinstance(value, ast.StringValueNode) else ""


def _names(definitions: list[tuple[str, ast.TypeDefinitionNode]] | list[tuple[str, ast.ObjectTypeDefinitionNode]]) -> str:
    return ", ".join(repr(name) for name, _ in definitions)
