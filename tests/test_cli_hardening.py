"""Command-line answers a new user meets: unknown demo roles, checking the schema file from another folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import cli
from gateway.demo import demo_roles, demo_token, seed_demo
from gateway.testing import create_tables, make_test_runtime


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    return {"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "GATEWAY_ENV": "development"}


def test_demo_token_of_an_unknown_role_fails_and_lists_the_roles(environment: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["demo", "token", "partner_admn"], env=environment)
    assert result.exit_code == 1
    assert "pgw_" not in result.output
    assert "no demo role 'partner_admn'" in result.output and "partner_admin" in result.output


def test_demo_token_of_a_known_role(environment: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["demo", "token", "platform_analyst"], env=environment)
    assert result.exit_code == 0 and result.output.strip() == demo_token("platform_analyst")


async def test_declared_demo_roles_are_exactly_the_seeded_tokens() -> None:
    runtime = make_test_runtime("sqlite")
    try:
        await create_tables(runtime)
        seeded = await seed_demo(runtime)
        assert set(demo_roles(runtime.plugin_manager)) == set(seeded.tokens)
    finally:
        await runtime.dispose()


def test_schema_check_from_another_folder_says_the_file_is_missing(environment: dict[str, str], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["schema", "export", "--check"], env=environment)
    assert result.exit_code == 1
    assert f"{tmp_path / 'schema' / 'schema.graphql'} does not exist" in result.output
    assert "differ" not in result.output and not (tmp_path / "schema").exists()
