"""A plugin defined only in this file extends the composed schema through hooks; clashes and broken types name the plugin."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
import strawberry

from gateway.batch import batch_field
from gateway.composition import Mutation, Query, extends
from gateway.context import Context
from gateway.errors import PluginContractError, UserError
from gateway.hookspecs import hookimpl
from gateway.introspection import plugin_contributions
from gateway.plugins import available_plugins, enabled_plugins
from gateway.runtime import Runtime
from gateway.settings import load_settings
from gateway.testing import create_tables, make_test_runtime, run_query
from schema.organizations.types import Organization
from schema.testing import build_world

WIDGETS: list[str] = []


@strawberry.type(description="A test plugin's own type.")
class Widget:
    name: str
    size: int


@extends(Query)
class WidgetQueries:
    @strawberry.field
    def widgets(self) -> list[Widget]:
        return [Widget(name=name, size=len(name)) for name in WIDGETS]


@strawberry.input
class CreateWidgetInput:
    name: str


@strawberry.type
class CreateWidgetPayload:
    widget: Widget | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@extends(Mutation)
class WidgetMutations:
    @strawberry.mutation
    def create_widget(self, input: CreateWidgetInput) -> CreateWidgetPayload:
        if not input.name:
            return CreateWidgetPayload(user_errors=[UserError(field=["name"], message="name it", code="EMPTY_NAME")])
        WIDGETS.append(input.name)
        return CreateWidgetPayload(widget=Widget(name=input.name, size=len(input.name)))


CALLS: list[int] = []


@extends(Organization)
class OrganizationWidgets:
    @batch_field(description="How many widgets this organization has (test plugin).")
    @staticmethod
    async def widget_count(parents: list[Organization], ctx: Context) -> list[int]:
        CALLS.append(len(parents))
        return [len(parent.domain) for parent in parents]


def plugin(*extensions: type, types: tuple[type, ...] = ()) -> Any:
    """A plugin object (no module, no entry point) answering the schema hooks."""
    return SimpleNamespace(
        gateway_types=hookimpl(lambda: list(types)),
        gateway_type_extensions=hookimpl(lambda: list(extensions)),
    )


TEST_PLUGIN = plugin(WidgetQueries, WidgetMutations, OrganizationWidgets, types=(Widget,))


async def widget_runtime(backend: str = "sqlite") -> Runtime:
    runtime = make_test_runtime(backend, extra_plugins=[("testplugin", TEST_PLUGIN)])
    await create_tables(runtime)
    return runtime


def sdl(runtime: Runtime) -> str:
    return runtime.schema.as_str()


async def test_plugin_adds_type_query_mutation_and_core_field() -> None:
    runtime = await widget_runtime()
    try:
        text = sdl(runtime)
        assert "type Widget {" in text
        assert "widgets: [Widget!]!" in text
        assert "createWidget(input: CreateWidgetInput!): CreateWidgetPayload!" in text
        organization = text.split("type Organization implements Node {", 1)[1].split("}", 1)[0]
        assert "widgetCount: Int!" in organization
        assert plugin_contributions(runtime.plugin_manager)["testplugin"]["fields"] == [
            "Query.widgets", "Mutation.createWidget", "Organization.widgetCount"]
    finally:
        await runtime.dispose()


async def test_composed_schema_serves_the_plugin() -> None:
    WIDGETS.clear()
    CALLS.clear()
    runtime = await widget_runtime()
    try:
        world = await build_world(runtime)
        created = await run_query(runtime, 'mutation { createWidget(input: {name: "gear"}) { widget { name size } '
                                           'userErrors { code } } }')
        assert created.ok() == {"createWidget": {"widget": {"name": "gear", "size": 4}, "userErrors": []}}
        refused = await run_query(runtime, 'mutation { createWidget(input: {name: ""}) { widget { name } '
                                           'userErrors { code field } } }')
        assert refused.ok()["createWidget"] == {"widget": None, "userErrors": [{"code": "EMPTY_NAME", "field": ["name"]}]}
        assert (await run_query(runtime, "{ widgets { name } }")).ok() == {"widgets": [{"name": "gear"}]}
        result = await run_query(runtime, "{ organizations(first: 10) { nodes { domain widgetCount } } }",
                                 token=world.tokens["platform_admin"])
        nodes = result.ok()["organizations"]["nodes"]
        assert len(nodes) == 3 and all(n["widgetCount"] == len(n["domain"]) for n in nodes)
        assert CALLS == [3]  # one batch for the whole level
    finally:
        await runtime.dispose()


async def test_second_plugin_with_the_same_field_fails_naming_both() -> None:
    @extends(Organization)
    class AlsoWidgets:
        @strawberry.field
        def widget_count(self) -> int:
            return 0

    with pytest.raises(PluginContractError) as raised:
        make_test_runtime("sqlite", extra_plugins=[("testplugin", TEST_PLUGIN), ("copycat", plugin(AlsoWidgets))])
    message = str(raised.value)
    assert "Organization.widgetCount" in message and "'testplugin'" in message and "'copycat'" in message


async def test_plugin_cannot_replace_a_core_field() -> None:
    @extends(Organization)
    class Rename:
        @strawberry.field
        def name(self) -> str:
            return "mine"

    with pytest.raises(PluginContractError, match="Organization.name.*'renamer'"):
        make_test_runtime("sqlite", extra_plugins=[("renamer", plugin(Rename))])


async def test_broken_type_names_the_plugin() -> None:
    @extends(Query)
    class Broken:
        @strawberry.field
        def gadget(self) -> NoSuchType:  # type: ignore[name-defined]  # noqa: F821
            return None

    with pytest.raises(PluginContractError) as raised:
        make_test_runtime("sqlite", extra_plugins=[("breaker", plugin(Broken))])
    assert "'breaker'" in str(raised.value) and "gadget" in str(raised.value)


async def test_unmarked_extension_names_the_plugin() -> None:
    @strawberry.type
    class NotMarked:
        x: int

    with pytest.raises(PluginContractError, match="'sloppy'.*@extends"):
        make_test_runtime("sqlite", extra_plugins=[("sloppy", plugin(NotMarked))])


async def test_schemas_with_and_without_the_plugin_coexist() -> None:
    with_plugin = await widget_runtime()
    without = make_test_runtime("sqlite")
    await create_tables(without)
    again = await widget_runtime()
    try:
        assert "widgetCount" in sdl(with_plugin) and "widgetCount" in sdl(again)
        assert "widgetCount" not in sdl(without) and "Widget" not in sdl(without)
        missing = await run_query(without, "{ widgets { name } }")
        assert "widgets" in missing.errors[0]["message"]
        assert (await run_query(with_plugin, "{ widgets { name } }")).errors == []
    finally:
        for runtime in (with_plugin, without, again):
            await runtime.dispose()


@dataclass
class FakeEntryPoint:
    name: str
    target: Any
    value: str = "tests.test_composition:TEST_PLUGIN"
    dist: Any = None

    def load(self) -> Any:
        return self.target


async def test_gateway_plugins_setting_disables_a_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = available_plugins()
    monkeypatch.setattr("gateway.plugins.available_plugins",
                        lambda: {**installed, "testplugin": FakeEntryPoint("testplugin", TEST_PLUGIN)})
    enabled = Runtime(load_settings(database_url="sqlite+aiosqlite://", plugins="core,testplugin"))
    disabled = Runtime(load_settings(database_url="sqlite+aiosqlite://", plugins="core"))
    try:
        assert "widgetCount" in sdl(enabled) and "createWidget" in sdl(enabled)
        assert "widgetCount" not in sdl(disabled) and "createWidget" not in sdl(disabled)
        assert [name for name, _ in enabled_plugins(disabled.plugin_manager)] == ["core"]
    finally:
        await enabled.dispose()
        await disabled.dispose()


def test_core_imports_no_plugin() -> None:
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    offenders = []
    for folder in ("gateway", "schema"):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                offenders += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] in ("plugins", "tests")]
                if folder == "gateway":
                    offenders += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] == "schema"]
    assert offenders == []
