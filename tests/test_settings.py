"""Settings: validated at start, a bad value gives one clear line naming the variable (and the CLI exits non-zero)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gateway.cli import cli
from gateway.plugins import PluginError, create_plugin_manager, enabled_plugins
from gateway.settings import DEFAULT_DATABASE_URL, SettingsError, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GATEWAY_DATABASE_URL", "GATEWAY_PLUGINS", "GATEWAY_PAGE_SIZE_MAX", "GATEWAY_GRAPHIQL",
                 "GATEWAY_LOG_LEVEL", "GATEWAY_CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL and settings.is_sqlite
    assert settings.plugins is None  # every installed plugin
    assert settings.page_size_max == 100
    assert settings.graphiql is False
    assert settings.log_level == "INFO"
    assert settings.cors_origins == []


def test_values_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_PLUGINS", " mail , desk_im,")
    monkeypatch.setenv("GATEWAY_CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "postgresql://gw@db.example/gateway")
    monkeypatch.setenv("GATEWAY_LOG_LEVEL", "debug")
    monkeypatch.setenv("GATEWAY_GRAPHIQL", "1")
    monkeypatch.setenv("GATEWAY_MAX_DEPTH", "7")
    settings = load_settings()
    assert settings.plugins == ["mail", "desk_im"]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.database_url == "postgresql+asyncpg://gw@db.example/gateway"
    assert settings.log_level == "DEBUG"
    assert settings.graphiql is True
    assert settings.max_depth == 7


@pytest.mark.parametrize("variable, value, expected", [
    ("GATEWAY_MAX_DEPTH", "deep", "GATEWAY_MAX_DEPTH"),
    ("GATEWAY_MAX_DEPTH", "0", "GATEWAY_MAX_DEPTH"),
    ("GATEWAY_PAGE_SIZE_MAX", "-5", "GATEWAY_PAGE_SIZE_MAX"),
    ("GATEWAY_MAX_QUERY_COST", "lots", "GATEWAY_MAX_QUERY_COST"),
    ("GATEWAY_DATABASE_URL", "mysql://root@localhost/gw", "GATEWAY_DATABASE_URL"),
    ("GATEWAY_LOG_LEVEL", "CHATTY", "GATEWAY_LOG_LEVEL"),
    ("GATEWAY_GRAPHIQL", "perhaps", "GATEWAY_GRAPHIQL"),
])
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                      expected: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message


def test_database_url_message_says_what_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "oracle://x")
    with pytest.raises(SettingsError, match="sqlite\\+aiosqlite:///FILE or postgresql\\+asyncpg://"):
        load_settings()


def test_unknown_plugin_is_named() -> None:
    with pytest.raises(PluginError) as raised:
        create_plugin_manager(["core", "no_such_plugin"])
    assert "no_such_plugin" in str(raised.value)
    assert "installed:" in str(raised.value)


def test_core_is_always_enabled() -> None:
    pm = create_plugin_manager([])
    assert [name for name, _ in enabled_plugins(pm)] == ["core"]


@pytest.mark.parametrize("command", [["plugins"], ["actions"], ["db", "upgrade"], ["schema", "export", "--check"],
                                     ["token", "create", "--user", "a@b.example"], ["demo", "seed"]])
def test_cli_exits_non_zero_with_one_line(command: list[str]) -> None:
    result = CliRunner().invoke(cli, command, env={"GATEWAY_MAX_DEPTH": "zero"})
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: invalid settings: GATEWAY_MAX_DEPTH")


def test_cli_unknown_plugin_one_line() -> None:
    result = CliRunner().invoke(cli, ["plugins"], env={"GATEWAY_PLUGINS": "core,nope"})
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        line for line in result.stderr.strip().splitlines() if "nope" in line]
