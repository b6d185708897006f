"""Each plugin's part as an Apollo Federation 2 subgraph (`gateway schema export --plugin NAME --federation`).

The subgraphs are valid by the rules gateway/federation_compose.py checks, and composing them gives
exactly the monolith's schema: all of them the schema with every plugin, the core's and one
plugin's the schema with the core and that plugin. Apollo's own composition runs in
.ci/federation_compose.sh.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from graphql import (
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
    find_dangerous_changes,
    lexicographic_sort_schema,
    parse,
    print_ast,
    print_schema,
)
from graphql.language import ast

from gateway.cli import cli
from gateway.federation import (
    FEDERATION_URL,
    FederationError,
    SchemaText,
    installed_plugins,
    part_sdl,
    plugin_subgraph,
    subgraph_sdls,
)
from gateway.federation_compose import check_subgraph, compose
from gateway.settings import Settings, load_settings
from gateway.testing import make_test_runtime

PLUGINS = [name for name in installed_plugins() if name != "core"]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(database_url="sqlite+aiosqlite://")


@pytest.fixture(scope="module")
def subgraphs(settings: Settings) -> dict[str, str]:
    return subgraph_sdls(settings)


def canonical(schema: GraphQLSchema) -> str:
    """The schema printed in name order (rebuilt from its SDL first: strawberry's enums hold Python values)."""
    return print_schema(lexicographic_sort_schema(build_schema(print_schema(schema))))


def monolith(plugins: list[str] | None) -> GraphQLSchema:
    return make_test_runtime("sqlite", plugins=plugins).schema._schema


def definitions(sdl: str) -> dict[str, ast.TypeDefinitionNode]:
    return {d.name.value: d for d in parse(sdl).definitions if isinstance(d, ast.TypeDefinitionNode)}


def directive_names(node: ast.TypeDefinitionNode | ast.FieldDefinitionNode) -> list[str]:
    return [d.name.value for d in node.directives or ()]


def field_names(node: ast.TypeDefinitionNode) -> list[str]:
    return [f.name.value for f in getattr(node, "fields", None) or ()]


def test_every_installed_plugin_has_a_subgraph(subgraphs: dict[str, str]) -> None:
    assert {"certificates", "desk_im", "mail", "vertical"} <= set(PLUGINS)
    assert list(subgraphs) == ["core", *PLUGINS]


@pytest.mark.parametrize("plugin", ["core", *PLUGINS])
def test_subgraph_is_valid(subgraphs: dict[str, str], plugin: str) -> None:
    sdl = subgraphs[plugin]
    assert check_subgraph(plugin, sdl) == []
    assert sdl.startswith(f'extend schema @link(url: "{FEDERATION_URL}", import: ["@key", "@shareable"])')
    found = definitions(sdl)
    for name, definition in found.items():
        interfaces = [i.name.value for i in getattr(definition, "interfaces", None) or ()]
        if isinstance(definition, ast.ObjectTypeDefinitionNode) and "Node" in interfaces:
            assert "key" in directive_names(definition), f"entity {name} has no @key in {plugin}"
            assert "id" in field_names(definition)


@pytest.mark.parametrize("plugin", PLUGINS)
def test_plugin_subgraph_holds_only_the_plugins_fields(subgraphs: dict[str, str], plugin: str) -> None:
    """Roots and core entities carry only what the plugin adds; every core value type is the core's, alike."""
    core = definitions(subgraphs["core"])
    mine = definitions(subgraphs[plugin])
    assert set(mine) - set(core), f"{plugin} has no type of its own"
    for name, definition in mine.items():
        if name not in core:
            continue
        if name in ("Query", "Mutation"):
            assert not set(field_names(definition)) & set(field_names(core[name]))
        elif "key" in directive_names(definition):
            assert not set(field_names(definition)) & (set(field_names(core[name])) - {"id"})
        else:  # a value type: the very definition of the core's subgraph
            assert print_ast(definition) == print_ast(core[name]), name
    extended = [name for name, d in mine.items() if name in core and "key" in directive_names(d)
                and set(field_names(d)) != {"id"}]
    assert extended, f"{plugin} extends no core entity"


def test_composed_subgraphs_equal_the_monolith(subgraphs: dict[str, str]) -> None:
    composed = compose(subgraphs)
    whole = monolith(None)
    assert canonical(composed) == canonical(whole)  # and tests/test_sdl.py: whole == schema/schema.graphql
    for old, new in ((whole, composed), (composed, whole)):
        assert find_breaking_changes(old, new) == []
        assert find_dangerous_changes(old, new) == []


@pytest.mark.parametrize("plugin", PLUGINS)
def test_core_and_one_plugin_compose_to_that_gateway(subgraphs: dict[str, str], plugin: str) -> None:
    composed = compose({"core": subgraphs["core"], plugin: subgraphs[plugin]})
    assert canonical(composed) == canonical(monolith(["core", plugin]))


def test_core_subgraph_alone_is_the_core_schema(subgraphs: dict[str, str]) -> None:
    assert canonical(compose({"core": subgraphs["core"]})) == canonical(monolith(["core"]))


# ---------------------------------------------------------------- the composer refuses what Federation 2 refuses
def test_a_root_field_clash_is_reported(subgraphs: dict[str, str]) -> None:
    assert "type Query {\n" in subgraphs["certificates"]
    clash = subgraphs["certificates"].replace("type Query {\n", "type Query {\n  viewer: String\n", 1)
    with pytest.raises(FederationError) as refused:
        compose({**subgraphs, "certificates": clash})
    assert refused.value.problems == ["field Query.viewer is defined in subgraphs 'core' and 'certificates' and is not "
                                      "shareable (@key or @shareable) in both"]


def test_an_entity_field_in_two_subgraphs_is_reported(subgraphs: dict[str, str]) -> None:
    sdl = subgraphs["desk_im"].replace('type Organization implements Node @key(fields: "id") {\n  id: ID!\n',
                                       'type Organization implements Node @key(fields: "id") {\n  id: ID!\n  name: String!\n', 1)
    assert sdl != subgraphs["desk_im"]
    with pytest.raises(FederationError) as refused:
        compose({**subgraphs, "desk_im": sdl})
    assert refused.value.problems == [
        "field Organization.name is defined in subgraphs 'core' and 'desk_im' and is not shareable (@key or @shareable) in both"]


def test_a_value_type_that_differs_is_reported(subgraphs: dict[str, str]) -> None:
    sdl = subgraphs["mail"].replace("  startCursor: String\n", "", 1)
    assert sdl != subgraphs["mail"]
    with pytest.raises(FederationError) as refused:
        compose({**subgraphs, "mail": sdl})
    assert any(p.startswith("value type PageInfo differs between subgraphs") for p in refused.value.problems)


def test_a_shared_field_typed_differently_is_reported(subgraphs: dict[str, str]) -> None:
    sdl = subgraphs["mail"].replace("  startCursor: String\n", "  startCursor: ID\n", 1)
    with pytest.raises(FederationError) as refused:
        compose({**subgraphs, "mail": sdl})
    assert any("PageInfo.startCursor differs" in p for p in refused.value.problems), refused.value


def test_a_value_type_without_shareable_is_reported(subgraphs: dict[str, str]) -> None:
    sdl = subgraphs["mail"].replace("type PageInfo @shareable {", "type PageInfo {", 1)
    with pytest.raises(FederationError) as refused:
        compose({**subgraphs, "mail": sdl})
    assert "field PageInfo.hasNextPage is defined in subgraphs 'core' and 'mail' and is not shareable " \
           "(@key or @shareable) in both" in refused.value.problems


def test_an_enum_or_scalar_that_differs_is_reported(subgraphs: dict[str, str]) -> None:
    core = definitions(subgraphs["core"])
    plugin, enum = next((plugin, d) for plugin in PLUGINS for name, d in definitions(subgraphs[plugin]).items()
                        if isinstance(d, ast.EnumTypeDefinitionNode) and name in core)
    value = (enum.values or ())[0].name.value
    sdl = subgraphs[plugin].replace(f"  {value}\n", "", 1)
    with pytest.raises(FederationError) as refused:
        compose({**subgraphs, plugin: sdl})
    assert refused.value.problems == [f"{enum.name.value} differs between subgraphs 'core' and {plugin!r} "
                                      "(a type other than an entity must be defined alike in every subgraph)"]
    sdl = subgraphs[plugin].replace('"""Date with time (isoformat)"""\nscalar DateTime', "scalar DateTime", 1)
    assert sdl != subgraphs[plugin]
    with pytest.raises(FederationError, match="DateTime differs between subgraphs 'core' and"):
        compose({**subgraphs, plugin: sdl})


def test_subgraph_rules() -> None:
    link = f'extend schema @link(url: "{FEDERATION_URL}", import: ["@key"])\n'
    assert check_subgraph("a", link + 'type A @key(fields: "id") { id: ID! }') == []
    assert check_subgraph("a", link + 'type A @key(fields: "uid") { id: ID! }') == [
        "subgraph 'a': @key of A names 'uid', which is not one of its fields"]
    assert check_subgraph("a", link + "type A @shareable { id: ID! }") == ["subgraph 'a' uses @shareable without importing it"]
    assert check_subgraph("a", 'type A @key(fields: "id") { id: ID! }') == [
        "subgraph 'a' does not @link the federation 2 spec (https://specs.apollo.dev/federation/v2.x)",
        "subgraph 'a' uses @key without importing it"]
    assert check_subgraph("a", link + "type A { b: B }")[0].startswith("subgraph 'a' is not a valid schema: Unknown type 'B'")
    assert check_subgraph("a", "type {")[0].startswith("subgraph 'a' does not parse")


def test_an_entity_and_a_value_type_of_one_name_are_reported() -> None:
    link = f'extend schema @link(url: "{FEDERATION_URL}", import: ["@key", "@shareable"])\n'
    with pytest.raises(FederationError) as refused:
        compose({"a": link + 'type Query { a: A } type A @key(fields: "id") { id: ID! }',
                 "b": link + "type Query { b: A } type A @shareable { id: ID! }"})
    assert refused.value.problems == ["A is an entity (@key) in some of 'a', 'b' but not in all"]


# ---------------------------------------------------------------- what a plugin cannot export
def schema_text(sdl: str) -> SchemaText:
    return SchemaText.of(build_schema(sdl))


CORE_SDL = """
interface Node { id: ID! }
type Query { viewer: Viewer  node(id: ID!): Node }
type Viewer { name: String }
type Thing implements Node { id: ID!  name: String }
"""


def test_a_field_on_a_value_type_cannot_be_a_subgraph() -> None:
    base = schema_text(CORE_SDL)
    full = schema_text(CORE_SDL.replace("type Viewer { name: String }", "type Viewer { name: String  extra: Int }"))
    with pytest.raises(FederationError, match="plugin 'p' adds field\\(s\\) extra to Viewer, which is not an entity"):
        plugin_subgraph("p", base, full)


def test_a_plugin_changing_a_core_type_cannot_be_a_subgraph() -> None:
    base = schema_text(CORE_SDL)
    full = schema_text(CORE_SDL.replace("type Thing implements Node { id: ID!  name: String }",
                                        "type Thing implements Node { id: ID!  name: String! }"))
    with pytest.raises(FederationError, match="the plugin changes the core's field\\(s\\) Thing.name"):
        plugin_subgraph("p", base, full)


def test_a_small_plugin_subgraph() -> None:
    base = schema_text(CORE_SDL)
    full = schema_text(CORE_SDL + """
extend type Query { gadgets: [Gadget!]! }
extend type Thing { gadget: Gadget }
type Gadget implements Node { id: ID!  owner: Thing!  size: Size  viewer: Viewer }
enum Size { S M }
""")
    sdl = print_ast(plugin_subgraph("p", base, full))
    assert sdl == '''extend schema @link(url: "https://specs.apollo.dev/federation/v2.0", import: ["@key", "@shareable"])

interface Node {
  id: ID!
}

type Query {
  gadgets: [Gadget!]!
}

type Viewer @shareable {
  name: String
}

type Thing implements Node @key(fields: "id") {
  id: ID!
  gadget: Gadget
}

type Gadget implements Node @key(fields: "id") {
  id: ID!
  owner: Thing!
  size: Size
  viewer: Viewer
}

enum Size {
  S
  M
}'''


# ---------------------------------------------------------------- the command
def test_export_command(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    federated = runner.invoke(cli, ["schema", "export", "--plugin", "mail", "--federation"])
    assert federated.exit_code == 0, federated.output
    assert federated.stdout == part_sdl("mail", settings, federation=True)
    plain = runner.invoke(cli, ["schema", "export", "--plugin", "mail"])
    assert plain.exit_code == 0, plain.output
    assert "extend type Organization {" in plain.stdout and "@key" not in plain.stdout
    assert "type Organization implements" not in plain.stdout
    output = tmp_path / "core.graphql"
    written = runner.invoke(cli, ["schema", "export", "--plugin", "core", "--federation", "--output", str(output)])
    assert written.exit_code == 0, written.output
    assert output.read_text() == part_sdl("core", settings, federation=True)
    checked = runner.invoke(cli, ["schema", "export", "--plugin", "core", "--federation", "--output", str(output), "--check"])
    assert checked.exit_code == 0, checked.output


def test_export_command_refusals() -> None:
    runner = CliRunner()
    unknown = runner.invoke(cli, ["schema", "export", "--plugin", "nope", "--federation"])
    assert unknown.exit_code == 1
    assert f"no plugin 'nope' is installed; installed: {', '.join(installed_plugins())}" in unknown.stderr
    alone = runner.invoke(cli, ["schema", "export", "--federation"])
    assert alone.exit_code == 2 and "add --plugin NAME" in alone.stderr
    to_stdout = runner.invoke(cli, ["schema", "export", "--plugin", "mail", "--check"])
    assert to_stdout.exit_code == 2 and "--check compares with a file" in to_stdout.stderr
