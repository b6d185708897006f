"""The README's Settings table lists every setting the gateway reads."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def settings_table() -> str:
    text = README.read_text()
    section = text.split("## Settings", 1)[1]
    return section.split("\n## ", 1)[0]


def test_every_setting_is_in_the_readme_settings_table() -> None:
    documented = set(re.findall(r"^\| `(GATEWAY_[A-Z_]+)` \|", settings_table(), flags=re.MULTILINE))
    expected = {f"GATEWAY_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "add these to README.md's Settings table"
    assert documented - expected == set(), "README.md documents settings that do not exist"
