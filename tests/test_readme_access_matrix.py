"""The README's access matrix is the one the declared actions produce."""

from __future__ import annotations

from pathlib import Path

from gateway.introspection import action_registry, actions_markdown, grant_columns
from gateway.plugins import create_plugin_manager

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_access_matrix_matches_the_declared_actions() -> None:
    text = README.read_text()
    committed = text.split("<!-- access-matrix:start -->", 1)[1].split("<!-- access-matrix:end -->", 1)[0].strip()
    pm = create_plugin_manager(None)
    registry = action_registry(pm)
    generated = actions_markdown(registry, grant_columns(pm, registry)).strip()
    assert committed == generated, "run `gateway actions --markdown` and paste it into README.md"
