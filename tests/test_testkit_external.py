"""The test kit works for a plugin outside this repository: an installed package, its own tests, its own folder.

A throw-away plugin package (one Query field through ``gateway_type_extensions``; tests that override
``gateway_plugins`` and use the kit's fixtures) is installed into a temporary folder with pip and its
tests run with ``python -m pytest`` from the package's folder: no conftest of this repository is on
the way, the fixtures come from the ``pytest11`` entry point alone.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "kit-probe-backup"
version = "0.0.1"

[project.entry-points."partner_gateway.plugins"]
kit_probe = "kit_probe.plugin"

[tool.setuptools]
packages = ["kit_probe"]

[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "session"
asyncio_default_test_loop_scope = "session"
"""

PLUGIN = """\
import strawberry

from gateway.composition import Query, extends
from gateway.hookspecs import hookimpl


@extends(Query)
class ProbeQueries:
    @strawberry.field(description="A greeting from the kit probe.")
    def kit_probe_hello(self) -> str:
        return "hello from the probe"


@hookimpl
def gateway_type_extensions() -> list[type]:
    return [ProbeQueries]
"""

CONFTEST = """\
import pytest


@pytest.fixture
def gateway_plugins():
    return ["kit_probe"]
"""

TESTS = '''\
import sys

from gateway.plugins import enabled_plugins

HELLO = "{ kitProbeHello }"
REPOSITORY = "@REPOSITORY@"


def test_no_conftest_of_the_gateway_repository():
    loaded = [str(getattr(module, "__file__", "")) for module in list(sys.modules.values())]
    assert not [path for path in loaded if path.startswith(REPOSITORY) and path.endswith("conftest.py")]


async def test_the_runtime_has_the_core_and_this_plugin_only(runtime, backend):
    assert [name for name, _ in enabled_plugins(runtime.plugin_manager)] == ["core", "kit_probe"]
    assert backend in ("sqlite", "postgres")


async def test_the_field_answers_through_the_client(client, gql, world):
    assert (await client.query(HELLO)).ok() == {"kitProbeHello": "hello from the probe"}
    assert (await client.as_role("platform_admin").query(HELLO)).ok() == {"kitProbeHello": "hello from the probe"}
    assert (await gql(HELLO, token=world.tokens["org_member"])).ok() == {"kitProbeHello": "hello from the probe"}


async def test_access_matrix_sql_count_and_hooks(assert_access_matrix, client, count_sql, hook_recorder):
    async def run(role, token):
        return await client.query("{ viewer { user { email } } }", role=role)

    seen = await assert_access_matrix({"org_admin": "ok", "reseller_admin": "ok", "anonymous": "UNAUTHENTICATED"}, run)
    assert seen["org_admin"] == "ok"
    hook_recorder.clear()
    with count_sql() as counter:
        await client.query(HELLO)
    assert counter.count >= 1  # authenticating the token
    assert hook_recorder.called("gateway_viewer_memberships")
'''

# Not collected by default (no test_ prefix): run by name, it leaves a card number past the write guard.
LEAVE_CARD_DATA = """\
async def test_a_raw_driver_leaves_a_card_number(runtime):
    async with runtime.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        await driver.execute("create table kit_probe_notes (id integer primary key, note text)")
        await driver.execute("insert into kit_probe_notes (note) values ('card 4111 1111 1111 1111')")
        await driver.commit()
"""

EXPECTED_TESTS = 4
ROOT = Path(__file__).resolve().parents[1]


def _write_package(root: Path) -> Path:
    package = root / "kit-probe"
    for relative, text in {
        "pyproject.toml": PYPROJECT,
        "kit_probe/__init__.py": "",
        "kit_probe/plugin.py": PLUGIN,
        "tests/conftest.py": CONFTEST,
        "tests/test_kit_probe.py": TESTS.replace("@REPOSITORY@", str(ROOT)),
        "tests/leave_card_data.py": LEAVE_CARD_DATA,
    }.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return package


def _counts(summary: str) -> dict[str, int]:
    return {word: int(number) for number, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", summary)}


def test_a_plugin_outside_the_repository_runs_its_tests_with_the_kit(tmp_path: Path) -> None:
    package = _write_package(tmp_path)
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(package)],
        capture_output=True, text=True, timeout=60)
    assert install.returncode == 0, install.stderr
    assert list(site.glob("kit_probe_backup-*.dist-info"))

    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])
    backends = 2 if env.get("GATEWAY_TEST_POSTGRES_URL") else 1
    # the package's own settings (one event loop for the session), then pytest-asyncio's defaults (a loop per test)
    for options in ([], ["-o", "asyncio_default_fixture_loop_scope=function",
                         "-o", "asyncio_default_test_loop_scope=function"]):
        run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *options],
                             cwd=package, env=env, capture_output=True, text=True, timeout=120)
        summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
        assert run.returncode == 0, (options, run.stdout[-4000:] + run.stderr[-2000:])
        # one test is not parametrized by backend
        assert _counts(summary) == {"passed": 1 + (EXPECTED_TESTS - 1) * backends}, (options, summary)

    # the session ends with the card-data scan of its databases: a card number left behind fails the run, masked
    sqlite_only = {key: value for key, value in env.items() if key != "GATEWAY_TEST_POSTGRES_URL"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/leave_card_data.py"],
                         cwd=package, env=sqlite_only, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout[-4000:] + run.stderr[-2000:]
    assert _counts(run.stdout.strip().splitlines()[-1]) == {"passed": 1, "error": 1}, run.stdout[-4000:]
    assert "card data found in the test databases" in run.stdout
    assert "kit_probe_notes.note" in run.stdout and "411111******1111" in run.stdout
    assert "4111 1111 1111 1111" not in run.stdout


def test_pytest_starts_without_a_database_and_without_loading_the_host(tmp_path: Path) -> None:
    """The plugin is imported at every pytest start: ``pytest --help`` needs no database and no SQLAlchemy."""
    env = dict(os.environ, GATEWAY_TEST_POSTGRES_URL="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    helped = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--help"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert "asyncio_mode" in helped.stdout
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, schema.pytest_plugin as p; "
                               "print(sorted(m for m in ('sqlalchemy', 'strawberry', 'gateway.runtime') if m in sys.modules))"
                               "; print(p.backends())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert loaded.stdout.split("\n")[:2] == ["[]", "['sqlite', 'postgres']"], loaded.stderr
