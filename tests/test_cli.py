"""The `gateway` command line: demo seed, tokens, plugins, actions, query, serve, plugin commands, one-line errors."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, text

from gateway.cli import GatewayGroup, add_plugin_commands, cli
from gateway.cli_query import QueryError, declared_variables, flatten, parse_variables
from gateway.db import create_engine
from gateway.demo import demo_token
from gateway.hookspecs import hookimpl
from gateway.models import ApiToken, User
from gateway.plugins import create_plugin_manager
from gateway.testing import POSTGRES_ENV
from gateway.testing import test_backends as backends
from schema.common import seeded_organizations
from schema.organizations.demo import PEOPLE

ORGANIZATIONS = """query ($after: String, $first: Int) {
  organizations(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { name domain status address { country } partner { code } }
  }
}"""


def invoke(args: list[str], env: dict[str, str], input: str | None = None) -> Result:
    return CliRunner().invoke(cli, args, env=env, input=input)


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.stderr, result.exception)
    return result.stdout


def scalar(url: str, statement: Any) -> Any:
    async def run() -> Any:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return (await connection.execute(statement)).scalar()
        finally:
            await engine.dispose()

    return asyncio.run(run())


def sqlite_env(folder: Path) -> dict[str, str]:
    return {"GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/gateway.db"}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A SQLite database with the demo data, shared by the read-only tests of this module."""
    env = sqlite_env(tmp_path_factory.mktemp("seeded"))
    ok(invoke(["demo", "seed"], env))
    return env


@pytest.fixture(params=backends())
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """An empty database: a SQLite file, or a PostgreSQL database created for the test and dropped after."""
    if request.param == "sqlite":
        yield sqlite_env(tmp_path)
        return
    from sqlalchemy.engine import make_url

    base = make_url(os.environ[POSTGRES_ENV].replace("postgresql://", "postgresql+asyncpg://", 1))
    name = f"gateway_cli_{uuid.uuid4().hex[:8]}"

    def admin(statement: str) -> None:
        async def run() -> None:
            engine = create_engine(base.set(database="postgres").render_as_string(hide_password=False),
                                   isolation_level="AUTOCOMMIT")
            try:
                async with engine.connect() as connection:
                    await connection.execute(text(statement))
            finally:
                await engine.dispose()

        asyncio.run(run())

    admin(f'CREATE DATABASE "{name}"')
    try:
        yield {"GATEWAY_DATABASE_URL": base.set(database=name).render_as_string(hide_password=False)}
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- demo seed
def test_demo_seed_is_idempotent_and_prints_tokens(empty_database: dict[str, str]) -> None:
    url = empty_database["GATEWAY_DATABASE_URL"]
    first = ok(invoke(["demo", "seed"], empty_database))
    counts = [scalar(url, select(func.count()).select_from(t)) for t in (User, ApiToken)]
    organizations = scalar(url, text("select count(*) from organizations"))
    second = ok(invoke(["demo", "seed"], empty_database))
    assert [scalar(url, select(func.count()).select_from(t)) for t in (User, ApiToken)] == counts
    assert scalar(url, text("select count(*) from organizations")) == organizations >= 50
    assert first.split("Demo bearer tokens", 1)[1] == second.split("Demo bearer tokens", 1)[1]
    for label, email, *_ in PEOPLE:
        assert demo_token(label) in first and email in first
    assert "***" not in first and "password" not in first.lower()

    viewer = ok(invoke(["query", "-", "--token", demo_token("partner_admin")], empty_database,
                       input="{ viewer { user { email } partnerMemberships { role partner { code } } } }"))
    assert json.loads(viewer) == {"viewer": {"user": {"email": "admin@bright.example"},
                                             "partnerMemberships": [{"role": "PARTNER_ADMIN",
                                                                     "partner": {"code": "BRIGHT"}}]}}


def test_demo_data_shape(seeded: dict[str, str]) -> None:
    url = seeded["GATEWAY_DATABASE_URL"]
    assert scalar(url, text("select count(*) from partners where status = 'DISABLED' and kind = 'RESELLER'")) == 1
    assert scalar(url, text("select count(distinct country) from organizations")) >= 10
    assert scalar(url, text("select count(distinct status) from organizations")) == 4
    assert scalar(url, text("select count(*) from partner_access where status = 'REVOKED'")) >= 3
    assert scalar(url, text("select count(*) from partner_mappings where unmapped_at is not null")) >= 3
    assert scalar(url, text("select count(*) from organizations where domain_verified = false")) >= 3
    assert scalar(url, text("select count(*) from organizations where partner_id is null")) >= 3
    assert scalar(url, text("select count(*) from api_tokens where token_hash like 'pgw_%'")) == 0  # hashes only


def test_demo_token_command_is_deterministic() -> None:
    first = ok(invoke(["demo", "token", "partner_admin"], {})).strip()
    assert first == demo_token("partner_admin") == ok(invoke(["demo", "token", "partner_admin"], {})).strip()


def test_demo_token_without_a_label_lists_the_labels() -> None:
    listed = ok(invoke(["demo", "token"], {})).splitlines()
    labels = [line.split()[0] for line in listed]
    assert labels == sorted(labels) and "partner_admin" in labels and "platform_admin" in labels
    assert all(len(line.split(None, 1)) == 2 for line in listed)  # each with what it can do
    assert demo_token("partner_admin") not in "\n".join(listed)  # labels, not tokens


# ---------------------------------------------------------------- tokens
def test_token_create(seeded: dict[str, str]) -> None:
    out = ok(invoke(["token", "create", "--user", "Newbie@Example.com", "--name", "laptop"], seeded))
    token = out.strip().splitlines()[-1]
    assert token.startswith("pgw_") and " " not in token
    assert out.count(token) == 1
    viewer = ok(invoke(["query", "-", "--token", token], seeded, input="{ viewer { user { email } isPlatformAdmin } }"))
    assert json.loads(viewer) == {"viewer": {"user": {"email": "newbie@example.com"}, "isPlatformAdmin": False}}

    again = ok(invoke(["token", "create", "--user", "newbie@example.com", "--platform-admin",
                       "--expires-in-days", "3"], seeded)).strip().splitlines()
    assert again[-1] != token
    assert "expires" in again[0] and "platform role ADMIN" in again[0]
    url = seeded["GATEWAY_DATABASE_URL"]
    assert scalar(url, select(func.count()).select_from(User).where(User.email == "newbie@example.com")) == 1
    viewer = ok(invoke(["query", "-", "--token", again[-1]], seeded, input="{ viewer { isPlatformAdmin } }"))
    assert json.loads(viewer) == {"viewer": {"isPlatformAdmin": True}}


def test_token_create_contradicting_roles() -> None:
    result = invoke(["token", "create", "--user", "a@b.example", "--platform-admin", "--platform-role", "ANALYST"], {})
    assert result.exit_code != 0 and "contradict" in result.stderr


def test_token_create_before_migrations_is_one_line(tmp_path: Path) -> None:
    result = invoke(["token", "create", "--user", "a@b.example"], sqlite_env(tmp_path))
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "run `gateway db upgrade`" in result.stderr


def test_unreachable_database_is_one_line_without_password() -> None:
    env = {"GATEWAY_DATABASE_URL": "postgresql+asyncpg://gw:s3cret@127.0.0.1:1/gateway"}
    result = invoke(["token", "create", "--user", "a@b.example"], env)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot use the database at postgresql+asyncpg://gw:***@")
    assert "s3cret" not in result.output + result.stderr


def test_db_upgrade(tmp_path: Path) -> None:
    env = sqlite_env(tmp_path)
    out = ok(invoke(["db", "upgrade"], env))
    assert "gateway.db" in out
    assert scalar(env["GATEWAY_DATABASE_URL"], select(func.count()).select_from(User)) == 0
    ok(invoke(["db", "upgrade"], env))  # twice is fine


# ---------------------------------------------------------------- plugins and actions
def test_plugins_lists_versions_and_contributions() -> None:
    out = ok(invoke(["plugins"], {"GATEWAY_PLUGINS": "core"}))
    assert out.splitlines()[0] == "core 0.1.0 (schema.plugin)"
    assert "Query.viewer" in out and "models (" in out and "users" in out and "actions (" in out


def test_actions_matrix() -> None:
    markdown = ok(invoke(["actions", "--markdown"], {"GATEWAY_PLUGINS": "core"})).splitlines()
    header = markdown[0].split(" | ")
    assert header[0] == "| Action" and "`platform:ADMIN`" in header and "`org:SUPER_ADMIN`" in header
    row = next(line for line in markdown if line.startswith("| `organization.tag_partner`"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    marks = dict(zip([h.strip(" |`") for h in header[2:]], cells[2:], strict=False))
    assert marks["org:SUPER_ADMIN"] == "✓" and marks["platform:ADMIN"] == ""
    plain = ok(invoke(["actions"], {"GATEWAY_PLUGINS": "core"}))
    assert "organization.tag_partner (core): tag a partner for this organization" in plain


# ---------------------------------------------------------------- query
def test_variables_are_typed_by_the_document() -> None:
    declared = declared_variables("query ($first: Int, $code: String, $ids: [ID!], $on: Boolean!, $s: OrganizationStatus) "
                                  "{ __typename }")
    assert parse_variables(("first=10", "code=10", "ids=a,b", "on=true", "s=ACTIVE"), declared) == {
        "first": 10, "code": "10", "ids": ["a", "b"], "on": True, "s": "ACTIVE"}
    assert parse_variables(('ids=["x"]',), declared) == {"ids": ["x"]}
    with pytest.raises(QueryError, match="declares no \\$nope"):
        parse_variables(("nope=1",), declared)
    with pytest.raises(QueryError, match="not a valid Int"):
        parse_variables(("first=ten",), declared)
    with pytest.raises(QueryError, match="NAME=VALUE"):
        parse_variables(("first",), declared)


def test_flatten() -> None:
    assert flatten({"a": 1, "b": {"c": None, "d": True}, "e": [1, {"f": 2}]}) == {
        "a": 1, "b.c": "", "b.d": "true", "e": '[1,{"f":2}]'}


def test_query_all_json(seeded: dict[str, str]) -> None:
    args = ["query", "-", "--all", "--var", "first=7", "--token", demo_token("platform_admin")]
    result = json.loads(ok(invoke(args, seeded, input=ORGANIZATIONS)))["organizations"]
    assert len(result["nodes"]) == result["totalCount"] >= 50
    assert len({n["domain"] for n in result["nodes"]}) == len(result["nodes"])
    assert result["pageInfo"]["hasNextPage"] is False


def test_query_all_csv_with_progress(seeded: dict[str, str], tmp_path: Path) -> None:
    document = tmp_path / "orgs.graphql"
    document.write_text(ORGANIZATIONS)
    result = invoke(["query", str(document), "--all", "--format", "csv", "--var", "first=20", "--progress",
                     "--token", demo_token("platform_admin")], seeded)
    lines = ok(result).splitlines()
    assert lines[0] == "name,domain,status,address.country,partner.code"
    assert len(lines) - 1 >= 50
    acme = next(line for line in lines if ",acme.example," in line)
    assert acme == "Acme Corporation,acme.example,ACTIVE,US,BRIGHT"
    assert "fetched 20/" in result.stderr and "in 3 page(s)" in result.stderr


def test_query_all_needs_after(seeded: dict[str, str]) -> None:
    document = "{ organizations(first: 5) { pageInfo { hasNextPage endCursor } nodes { name } } }"
    result = invoke(["query", "-", "--all", "--token", demo_token("platform_admin")], seeded, input=document)
    assert result.exit_code == 1 and "declare $after" in result.stderr


def test_query_errors_exit_non_zero(seeded: dict[str, str]) -> None:
    result = invoke(["query", "-"], seeded, input="{ viewer { user { email } } }")
    assert result.exit_code == 1
    assert "[UNAUTHENTICATED]" in result.stderr
    bad = invoke(["query", "-", "--token", "pgw_unknown"], seeded, input="{ __typename }")
    assert bad.exit_code == 1 and "unknown" in bad.stderr
    broken = invoke(["query", "-"], seeded, input="{ viewer { ")
    assert broken.exit_code == 1 and "does not parse" in broken.stderr


@pytest.fixture(scope="module")
def live_gateway(seeded: dict[str, str]) -> Iterator[str]:
    """The seeded database served by uvicorn in a thread; yields the base URL."""
    import uvicorn

    from gateway.http import create_app
    from gateway.runtime import Runtime
    from gateway.settings import load_settings

    app = create_app(Runtime(load_settings(database_url=seeded["GATEWAY_DATABASE_URL"])))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_query_against_a_running_gateway(live_gateway: str) -> None:
    args = ["query", "-", "--url", live_gateway, "--all", "--var", "first=25", "--format", "csv"]
    out = ok(invoke(args, {"GATEWAY_TOKEN": demo_token("partner_analyst")}, input=ORGANIZATIONS))
    domains = {line.split(",")[1] for line in out.splitlines()[1:]}
    assert "acme.example" in domains and "umbrella.example" not in domains  # scoped like the API


def test_query_unreachable_gateway() -> None:
    result = invoke(["query", "-", "--url", "http://127.0.0.1:1"], {}, input="{ __typename }")
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:1/graphql" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- serve and plugin commands
def test_serve_runs_uvicorn_in_factory_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: calls.append((app, kwargs)))
    result = invoke(["serve", "--port", "8123", "--workers", "2"], {"GATEWAY_PLUGINS": "core"})
    ok(result)
    app, kwargs = calls[0]
    assert app == "gateway.http:create_app"
    assert kwargs["factory"] is True and kwargs["port"] == 8123 and kwargs["workers"] == 2
    assert kwargs["host"] == "127.0.0.1"


def test_serve_refuses_an_unknown_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("must not serve"))
    result = invoke(["serve"], {"GATEWAY_PLUGINS": "core,ghost"})
    assert result.exit_code == 1 and "ghost" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@click.command("hello")
def hello() -> None:
    """Say hello (a test plugin's command)."""
    click.echo("hello from a plugin")


@click.command("plugins")
def clashing() -> None:
    click.echo("should never run")


class CommandPlugin:
    @staticmethod
    @hookimpl
    def gateway_cli_commands() -> list[Any]:
        return [hello, clashing]


def test_plugin_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gateway.cli.plugin_manager",
                        lambda settings: create_plugin_manager(["core"], [("greeter", CommandPlugin)]))
    group = GatewayGroup(name="gateway", commands=dict(cli.commands))
    add_plugin_commands(group)
    runner = CliRunner()
    assert runner.invoke(group, ["hello"]).stdout == "hello from a plugin\n"
    assert group.commands["plugins"] is cli.commands["plugins"]  # a clash never replaces a built-in


def test_plugin_load_failure_is_reported_for_unknown_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    group = GatewayGroup(name="gateway", commands=dict(cli.commands))
    monkeypatch.setenv("GATEWAY_PLUGINS", "core,ghost")
    add_plugin_commands(group)
    result = CliRunner().invoke(group, ["hello"])
    assert result.exit_code != 0 and "ghost" in result.stderr


# ---------------------------------------------------------------- demo seeding order and atomicity
class RecordingSeeder:
    def __init__(self, name: str, fail: bool = False) -> None:
        self.name, self.fail = name, fail
        self.seen: list[tuple[str, int]] = []

    @hookimpl
    def gateway_seed_demo(self, session: Any, demo: Any) -> Any:
        async def seed() -> None:
            order = demo.extra.setdefault("order", [])
            order.append(self.name)
            self.seen.append((self.name, len(seeded_organizations(demo))))
            if self.fail:
                raise RuntimeError("no catalog")

        return seed()


async def test_seeders_run_in_plugin_order_core_first() -> None:
    from gateway.demo import seed_demo
    from gateway.testing import create_tables, make_test_runtime

    first, second = RecordingSeeder("first"), RecordingSeeder("second")
    runtime = make_test_runtime("sqlite", plugins=["core"], extra_plugins=[("first", first), ("second", second)])
    await create_tables(runtime)
    try:
        demo = await seed_demo(runtime)
    finally:
        await runtime.dispose()
    assert demo.extra["order"] == ["first", "second"]
    assert first.seen[0][1] >= 50  # the core's organizations were there already


async def test_failing_seeder_names_the_plugin_and_writes_nothing() -> None:
    from gateway.demo import DemoSeedError, seed_demo
    from gateway.testing import create_tables, make_test_runtime

    runtime = make_test_runtime("sqlite", plugins=["core"], extra_plugins=[("broken", RecordingSeeder("b", fail=True))])
    await create_tables(runtime)
    try:
        with pytest.raises(DemoSeedError, match="plugin 'broken' failed to seed its demo data: no catalog"):
            await seed_demo(runtime)
        async with runtime.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(User)) == 0
    finally:
        await runtime.dispose()
