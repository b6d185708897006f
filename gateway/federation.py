"""Each plugin's part of the schema as an Apollo Federation 2 subgraph (``gateway schema export --plugin NAME``).

A plugin's part is the difference between the schema built with the core and that plugin and the
core-only schema: the types that exist only with the plugin are its own; the fields that an
existing type has only with the plugin are its extensions (``Query`` and ``Mutation`` fields too).

The subgraph of a plugin holds (Federation 2 style, no ``extend type``):

- its own types in full; an own object type implementing ``Node`` is an entity, ``@key(fields: "id")``;
- each core entity it extends (an object type implementing ``Node``) as ``id`` plus its own fields,
  ``@key(fields: "id")``; a core entity it only refers to as ``id`` alone, ``@key(..., resolvable: false)``;
- every other core type its fields reach, copied as the core defines it: object value types marked
  ``@shareable`` (Federation 2 lets several subgraphs resolve a field only when each marks it so),
  interfaces, unions, enums, inputs and scalars identical (composition merges identical ones);
- ``Query`` and ``Mutation`` with only its own fields.

The core's subgraph is the core-only schema with ``@key`` on its entities and ``@shareable`` on its
object value types. ``Node`` stays a plain interface defined alike in every subgraph that needs it
(not an entity interface, which would make the core define every implementation), so
``Query.node`` belongs to the core's subgraph. :mod:`gateway.federation_compose` composes subgraphs
back into one schema and checks the rules above.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from graphql import GraphQLSchema, parse, print_ast, print_schema
from graphql.language import ast

FEDERATION_URL = "https://specs.apollo.dev/federation/v2.0"
ENTITY_INTERFACE = "Node"  # gateway.relay.Node: an object type implementing it is an entity
KEY_FIELD = "id"
KEY = "key"
SHAREABLE = "shareable"
LINK = "link"
FEDERATION_DIRECTIVES = (KEY, SHAREABLE)
BUILT_IN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})
CORE = "core"

Definition = ast.TypeDefinitionNode
FieldHolder = ast.ObjectTypeDefinitionNode | ast.InterfaceTypeDefinitionNode


class FederationError(Exception):
    """A part that cannot be a subgraph, or subgraphs that do not compose; ``problems`` lists why."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


# ---------------------------------------------------------------- schemas and parts
@dataclass(frozen=True)
class SchemaText:
    """A schema as the definitions graphql-core prints, by name, in printed order."""

    definitions: dict[str, Definition]
    directives: dict[str, ast.DirectiveDefinitionNode]
    roots: frozenset[str]  # the root types' names

    @classmethod
    def of(cls, schema: GraphQLSchema) -> SchemaText:
        document = parse(print_schema(schema), no_location=True)
        definitions = {d.name.value: d for d in document.definitions if isinstance(d, ast.TypeDefinitionNode)}
        directives = {d.name.value: d for d in document.definitions if isinstance(d, ast.DirectiveDefinitionNode)}
        roots = frozenset(root.name for root in (schema.query_type, schema.mutation_type, schema.subscription_type)
                          if root is not None)
        return cls(definitions, directives, roots)

    def is_root(self, name: str) -> bool:
        return name in self.roots

    def is_entity(self, name: str) -> bool:
        definition = self.definitions.get(name)
        return (isinstance(definition, ast.ObjectTypeDefinitionNode) and not self.is_root(name)
                and any(i.name.value == ENTITY_INTERFACE for i in definition.interfaces or ())
                and any(f.name.value == KEY_FIELD and print_ast(f.type) == "ID!" for f in definition.fields or ()))


@dataclass(frozen=True)
class Part:
    """What a plugin adds: its own types, and the fields it adds to existing types (roots included)."""

    own: list[str]
    fields: dict[str, list[str]]


def part_of(base: SchemaText, full: SchemaText) -> Part:
    """The plugin's part: ``full`` (core and plugin) minus ``base`` (core only)."""
    own: list[str] = []
    fields: dict[str, list[str]] = {}
    problems: list[str] = []
    for name, definition in full.definitions.items():
        before = base.definitions.get(name)
        if before is None:
            if full.is_root(name):
                fields[name] = [f.name.value for f in _fields(definition)]
            else:
                own.append(name)
        elif print_ast(before) != print_ast(definition):
            if not isinstance(definition, ast.ObjectTypeDefinitionNode) or not isinstance(before, ast.ObjectTypeDefinitionNode) \
                    or print_ast(_with_fields(definition, ())) != print_ast(_with_fields(before, ())):
                problems.append(f"the plugin changes the core's type {name} (a plugin may only add fields to object types)")
                continue
            had = {print_ast(f) for f in _fields(before)}
            names = {f.name.value for f in _fields(before)}
            changed = [f.name.value for f in _fields(definition) if f.name.value in names and print_ast(f) not in had]
            if changed:
                problems.append(f"the plugin changes the core's field(s) {', '.join(f'{name}.{c}' for c in changed)}")
            fields[name] = [f.name.value for f in _fields(definition) if f.name.value not in names]
    if problems:
        raise FederationError(problems)
    return Part(own, fields)


# ---------------------------------------------------------------- subgraph SDL
def core_subgraph(core: SchemaText) -> ast.DocumentNode:
    """The core-only schema with ``@key`` on its entities and ``@shareable`` on its object value types."""
    definitions: list[ast.DefinitionNode] = []
    for name, definition in core.definitions.items():
        if core.is_entity(name):
            definition = _with_directives(definition, [_key_directive(resolvable=True)])
        elif isinstance(definition, ast.ObjectTypeDefinitionNode) and not core.is_root(name):
            definition = _with_directives(definition, [_directive(SHAREABLE)])
        definitions.append(definition)
    return _subgraph_document([*core.directives.values(), *definitions])


def plugin_subgraph(plugin: str, base: SchemaText, full: SchemaText) -> ast.DocumentNode:
    """The subgraph of one plugin (``full``: core and plugin; ``base``: core only)."""
    part = part_of(base, full)
    chosen: dict[str, Definition] = {}
    for name, added in part.fields.items():
        definition = full.definitions[name]
        if full.is_root(name):
            chosen[name] = _with_fields(definition, [f for f in _fields(definition) if f.name.value in added])
        elif full.is_entity(name):
            chosen[name] = _entity_stub(full, name, added, resolvable=True)
        else:
            raise FederationError([f"plugin {plugin!r} adds field(s) {', '.join(added)} to {name}, which is not an entity "
                                   f"(an object type implementing {ENTITY_INTERFACE} with {KEY_FIELD}: ID!): another "
                                   "subgraph could not reach them"])
    for name in part.own:
        definition = full.definitions[name]
        chosen[name] = _with_directives(definition, [_key_directive(resolvable=True)]) if full.is_entity(name) \
            else definition
    waiting = [name for definition in list(chosen.values()) for name in _references(definition)]
    while waiting:
        name = waiting.pop()
        if name in chosen or name in BUILT_IN_SCALARS:
            continue
        definition = full.definitions[name]
        if full.is_root(name):
            raise FederationError([f"plugin {plugin!r} refers to the root type {name} as a field's type"])
        if full.is_entity(name):
            definition = _entity_stub(full, name, [], resolvable=False)
        elif isinstance(definition, ast.ObjectTypeDefinitionNode):
            definition = _with_directives(definition, [_directive(SHAREABLE)])
        chosen[name] = definition
        waiting += _references(definition)
    order = list(full.definitions)
    new_directives = [d for name, d in full.directives.items() if name not in base.directives]
    return _subgraph_document([*new_directives, *sorted(chosen.values(), key=lambda d: order.index(d.name.value))])


def plain_part(base: SchemaText, full: SchemaText) -> ast.DocumentNode:
    """The plugin's part without federation: its own types and ``extend type`` for the fields it adds."""
    part = part_of(base, full)
    definitions: list[ast.DefinitionNode] = [d for name, d in full.directives.items() if name not in base.directives]
    for name, definition in full.definitions.items():
        if name in part.own:
            definitions.append(definition)
        elif name in part.fields:
            definitions.append(ast.ObjectTypeExtensionNode(
                name=definition.name, directives=(), interfaces=(),
                fields=tuple(f for f in _fields(definition) if f.name.value in part.fields[name])))
    return ast.DocumentNode(definitions=tuple(definitions))


def _entity_stub(full: SchemaText, name: str, added: list[str], *, resolvable: bool) -> Definition:
    """An entity as a subgraph sees it: its key, the fields the subgraph adds, the interfaces those satisfy."""
    definition = full.definitions[name]
    assert isinstance(definition, ast.ObjectTypeDefinitionNode)
    fields = [f for f in _fields(definition) if f.name.value == KEY_FIELD or f.name.value in added]
    names = {f.name.value for f in fields}
    interfaces = [i for i in definition.interfaces or ()
                  if {f.name.value for f in _fields(full.definitions[i.name.value])} <= names]
    stub = dataclasses.replace(definition, fields=tuple(fields), interfaces=tuple(interfaces))
    return _with_directives(stub, [_key_directive(resolvable=resolvable)])


def _references(definition: Definition) -> Iterator[str]:
    """The names of the types a definition refers to."""
    if isinstance(definition, (ast.ObjectTypeDefinitionNode, ast.InterfaceTypeDefinitionNode)):
        yield from (i.name.value for i in definition.interfaces or ())
        for field in definition.fields or ():
            yield _named(field.type)
            yield from (_named(argument.type) for argument in field.arguments or ())
    elif isinstance(definition, ast.InputObjectTypeDefinitionNode):
        yield from (_named(field.type) for field in definition.fields or ())
    elif isinstance(definition, ast.UnionTypeDefinitionNode):
        yield from (member.name.value for member in definition.types or ())


def _named(type_node: ast.TypeNode) -> str:
    while isinstance(type_node, (ast.ListTypeNode, ast.NonNullTypeNode)):
        type_node = type_node.type
    assert isinstance(type_node, ast.NamedTypeNode)
    return type_node.name.value


def _fields(definition: Definition) -> tuple[ast.FieldDefinitionNode, ...]:
    return tuple(definition.fields or ()) if isinstance(definition, (ast.ObjectTypeDefinitionNode,
                                                                     ast.InterfaceTypeDefinitionNode)) else ()


def _with_fields(definition: Definition, fields: Iterable[ast.FieldDefinitionNode]) -> Definition:
    assert isinstance(definition, (ast.ObjectTypeDefinitionNode, ast.InterfaceTypeDefinitionNode))
    return dataclasses.replace(definition, fields=tuple(fields))


def _with_directives(definition: Definition, directives: Iterable[ast.ConstDirectiveNode]) -> Definition:
    return dataclasses.replace(definition, directives=(*(definition.directives or ()), *directives))


def _name(value: str) -> ast.NameNode:
    return ast.NameNode(value=value)


def _directive(name: str, **arguments: ast.ConstValueNode) -> ast.ConstDirectiveNode:
    return ast.ConstDirectiveNode(name=_name(name), arguments=tuple(
        ast.ConstArgumentNode(name=_name(argument), value=value) for argument, value in arguments.items()))


def _key_directive(*, resolvable: bool) -> ast.ConstDirectiveNode:
    fields = ast.StringValueNode(value=KEY_FIELD, block=False)
    if resolvable:
        return _directive(KEY, fields=fields)
    return _directive(KEY, fields=fields, resolvable=ast.BooleanValueNode(value=False))


def _subgraph_document(definitions: list[Any]) -> ast.DocumentNode:
    used = sorted({d.name.value for definition in definitions for d in definition.directives or ()
                   if d.name.value in FEDERATION_DIRECTIVES}, key=FEDERATION_DIRECTIVES.index)
    link = ast.SchemaExtensionNode(operation_types=(), directives=(_directive(
        LINK, url=ast.StringValueNode(value=FEDERATION_URL, block=False),
        **{"import": ast.ConstListValueNode(values=tuple(ast.StringValueNode(value=f"@{name}", block=False)
                                                     for name in used))}),))
    # graphql-core's parser puts a SchemaExtensionNode among a document's definitions; its typing omits it
    return ast.DocumentNode(definitions=(cast(ast.DefinitionNode, link), *definitions))


# ---------------------------------------------------------------- from installed plugins
def installed_plugins() -> list[str]:
    from gateway.plugins import available_plugins

    return sorted(available_plugins())


def schema_text(plugins: list[str], settings: Any) -> SchemaText:
    """The schema of exactly these plugins (the core always on), as printed definitions."""
    from gateway.composition import build_schema
    from gateway.plugins import contributions, create_plugin_manager

    pm = create_plugin_manager(plugins)
    schema = build_schema(type_contributions=contributions(pm, "gateway_types"),
                          extension_contributions=contributions(pm, "gateway_type_extensions"), settings=settings)
    return SchemaText.of(schema._schema)


def part_sdl(plugin: str, settings: Any, *, federation: bool, core: SchemaText | None = None) -> str:
    """``plugin``'s part of the schema: a Federation 2 subgraph, or plain SDL (own types, ``extend type``).

    ``core`` is the core-only schema when the caller has it already.
    """
    installed = installed_plugins()
    if plugin not in installed:
        raise FederationError([f"no plugin {plugin!r} is installed; installed: {', '.join(installed)}"])
    base = core or schema_text([CORE], settings)
    if plugin == CORE:
        document = core_subgraph(base) if federation else ast.DocumentNode(
            definitions=(*base.directives.values(), *base.definitions.values()))
    else:
        full = schema_text([CORE, plugin], settings)
        document = plugin_subgraph(plugin, base, full) if federation else plain_part(base, full)
    return print_ast(document).rstrip("\n") + "\n"


def subgraph_sdls(settings: Any, plugins: Iterable[str] | None = None) -> dict[str, str]:
    """The subgraph SDL of each plugin (default: every installed one) and of the core, the core's first."""
    names = set(plugins if plugins is not None else installed_plugins()) | {CORE}
    core = schema_text([CORE], settings)
    return {name: part_sdl(name, settings, federation=True, core=core)
            for name in sorted(names, key=lambda n: (n != CORE, n))}
