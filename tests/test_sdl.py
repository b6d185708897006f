"""The committed SDL snapshot (schema/schema.graphql) equals the composed schema (`gateway schema export --check`)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from gateway.cli import cli, composed_sdl, sdl_difference
from gateway.settings import load_settings

SNAPSHOT = Path(__file__).resolve().parents[1] / "schema" / "schema.graphql"


def test_committed_sdl_matches_the_code() -> None:
    sdl = composed_sdl(load_settings(plugins=None))  # every installed plugin, as the snapshot is made
    current = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    summary = sdl_difference(sdl, current)
    assert not summary, (
        f"{SNAPSHOT.name} differs from the code: run `gateway schema export` and commit the file.\n"
        + "\n".join(summary))


def test_difference_summary() -> None:
    assert sdl_difference("type A {\n  x: Int\n}\n", "type A {\n  x: Int\n}\n") == []
    summary = sdl_difference("type A {\n  x: Int\n  y: Int\n}\n", "type A {\n  x: Int\n}\n")
    assert summary[0] == "1 line(s) only in the code, 0 line(s) only in the file"
    assert summary[1] == "  +  y: Int"


def test_export_and_check(tmp_path: Path) -> None:
    output = tmp_path / "schema.graphql"
    env = {"GATEWAY_PLUGINS": "core"}
    runner = CliRunner()
    written = runner.invoke(cli, ["schema", "export", "--output", str(output)], env=env)
    assert written.exit_code == 0, written.output
    assert "type Organization implements Node" in output.read_text()
    assert runner.invoke(cli, ["schema", "export", "--output", str(output), "--check"], env=env).exit_code == 0
    output.write_text(output.read_text().replace("  domain: String!\n", "", 1))
    checked = runner.invoke(cli, ["schema", "export", "--output", str(output), "--check"], env=env)
    assert checked.exit_code == 1
    assert "run `gateway schema export`" in checked.stderr
    assert "+  domain: String!" in checked.stderr
    missing = runner.invoke(cli, ["schema", "export", "--output", str(tmp_path / "none.graphql"), "--check"], env=env)
    assert missing.exit_code == 1
