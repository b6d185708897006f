"""Debugging a plugin: `gateway plugins --json` and GATEWAY_TRACE_HOOKS=1 (one log line per hook call)."""

from __future__ import annotations

import io
import json
from typing import Any

import strawberry
from click.testing import CliRunner

from gateway.auth import get_or_create_user, issue_token
from gateway.cli import cli
from gateway.composition import Mutation, Query, extends
from gateway.hookspecs import hookimpl
from gateway.introspection import describe_plugins, plugins_report
from gateway.logging import configure_logging
from gateway.plugins import _tracers, create_plugin_manager
from gateway.testing import create_tables, make_test_runtime


@extends(Query)
class ProbeQuery:
    @strawberry.field(description="The probe's field.")
    def probe_answer(self) -> int:
        return 42


@extends(Mutation)
class ProbeMutation:
    @strawberry.mutation(description="The probe's mutation.")
    def probe_touch(self) -> int:
        return 1


class Probe:
    @hookimpl
    def gateway_type_extensions(self) -> list[type]:
        return [ProbeQuery, ProbeMutation]

    @hookimpl
    def gateway_migrations_path(self) -> str:
        return "/somewhere/probe/migrations"


# ---------------------------------------------------------------- gateway plugins --json
def test_plugins_json_lists_what_each_plugin_contributes() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"], env={"GATEWAY_PLUGINS": "core"})
    assert result.exit_code == 0, result.output
    (core,) = json.loads(result.stdout)
    assert (core["name"], core["module"]) == ("core", "schema.plugin")
    assert {"gateway_types", "gateway_type_extensions", "gateway_actions", "gateway_register_plugins"} <= set(
        core["hooks"])
    assert "gateway_viewer_memberships" in core["parts"]["core.identity"]
    assert "viewer" in core["fields"]["Query"] and "Mutation" not in core["fields"]
    assert "createOrganization" in core["mutations"]
    assert "Organization" in core["types"] and "users" in core["models"]
    assert "organization.read" in core["actions"]
    assert core["migrations"] and all(path.endswith("migrations") for path in core["migrations"])
    text = CliRunner().invoke(cli, ["plugins"], env={"GATEWAY_PLUGINS": "core"}).stdout
    for field in ("Query.viewer", "Mutation.createOrganization"):  # the same facts as the text listing
        assert field in text


def test_plugins_report_of_an_extra_plugin() -> None:
    pm = create_plugin_manager(["core"], [("probe", Probe())])
    probe = next(p for p in plugins_report(pm) if p["name"] == "probe")
    assert probe["version"] == "local"
    assert probe["hooks"] == ["gateway_migrations_path", "gateway_type_extensions"]
    assert probe["fields"] == {"Query": ["probeAnswer"]}
    assert probe["mutations"] == ["probeTouch"]
    assert probe["migrations"] == ["/somewhere/probe/migrations"]
    assert probe["types"] == [] and probe["parts"] == {}
    assert "Query.probeAnswer" in describe_plugins(pm)


# ---------------------------------------------------------------- GATEWAY_TRACE_HOOKS
def hook_lines(output: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, output.splitlines()) if line.get("event") == "hook call"]


async def traced_query(trace_hooks: bool) -> tuple[str, Any]:
    runtime = make_test_runtime("sqlite", plugins=["core"], trace_hooks=trace_hooks)
    try:
        await create_tables(runtime)
        async with runtime.sessions() as session, session.begin():
            user = await get_or_create_user(session, "tracer@example.com", "Tracer", None)
            _, token = await issue_token(session, user, "trace test")
        stream = io.StringIO()
        configure_logging("INFO", json=True, stream=stream)
        try:
            result = await runtime.execute("{ viewer { isPlatformAdmin } }", token=token)
        finally:
            configure_logging("INFO")  # back to stderr for the other tests
        assert not result.errors, result.errors
        return stream.getvalue(), runtime.plugin_manager
    finally:
        await runtime.dispose()


async def test_trace_hooks_logs_each_hook_call_with_implementations_and_time() -> None:
    output, pm = await traced_query(trace_hooks=True)
    lines = hook_lines(output)
    memberships = [line for line in lines if line["hook"] == "gateway_viewer_memberships"]
    assert memberships, output
    line = memberships[0]
    assert line["logger"] == "gateway.hooks" and line["level"] == "info"
    expected = [impl.plugin_name for impl in reversed(pm.hook.gateway_viewer_memberships.get_hookimpls())]
    assert line["implementations"] == expected and "core.identity" in expected  # pluggy's call order
    assert isinstance(line["ms"], float) and line["ms"] >= 0
    # argument names and types, never their values (a session, a token...)
    assert set(line["arguments"]) == {"session", "user_id"}
    assert line["arguments"]["session"].endswith("Session")  # the type's name only
    assert isinstance(line["arguments"]["user_id"], int)
    assert line.get("awaitables", 0) >= 0
    assert "tracer@example.com" not in output


async def test_trace_hooks_covers_the_collecting_hooks_in_load_order() -> None:
    pm = create_plugin_manager(["core"], [("probe", Probe())], trace_hooks=True)
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    try:
        from gateway.plugins import contributions

        contributions(pm, "gateway_migrations_path")
    finally:
        configure_logging("INFO")
    (line,) = hook_lines(stream.getvalue())
    assert line["hook"] == "gateway_migrations_path"
    assert line["implementations"][0] == "core" and line["implementations"][-1] == "probe"


async def test_trace_hooks_is_off_by_default() -> None:
    output, pm = await traced_query(trace_hooks=False)
    assert hook_lines(output) == []
    assert pm not in _tracers  # no monitoring installed: nothing runs per hook call


async def test_trace_hooks_covers_the_seeders_called_one_after_the_other() -> None:
    """`gateway demo seed` calls the catalog and demo seeders in load order, awaiting each: traced too."""
    from gateway.demo import seed_demo

    runtime = make_test_runtime("sqlite", plugins=["core", "mail"], trace_hooks=True)
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    try:
        await create_tables(runtime)
        await seed_demo(runtime)
    finally:
        configure_logging("INFO")
        await runtime.dispose()
    lines = {line["hook"]: line for line in hook_lines(stream.getvalue())}
    seeders = lines["gateway_seed_demo"]
    expected = [impl.plugin_name for impl in runtime.plugin_manager.hook.gateway_seed_demo.get_hookimpls()]
    assert sorted(seeders["implementations"]) == sorted(expected)
    assert seeders["implementations"][0].startswith("core") and seeders["implementations"][-1] == "mail"
    assert set(seeders["arguments"]) == {"session", "demo"} and seeders["ms"] > 0
    assert "awaitables" not in seeders  # each answer was awaited inside the timed call
    assert "gateway_seed_catalog" in lines and "gateway_catalog" in lines  # the sync's hooks
