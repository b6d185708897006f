"""Every part (core parts in schema/, product plugins in plugins/) follows the layout of plugins/README.md.

The tables of the README's "Layout" section are the documented list: a file or folder a part holds
must be a row of the first table (the same name for the same role everywhere) or a row of the
second (a module of that part only). Then the required files, and one migrations layout: revision
files directly in ``migrations/``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "plugins" / "README.md"
IGNORED = {"__pycache__", ".gitkeep", ".DS_Store"}

# Still open; each must also be a row of the README's exceptions table. When one is fixed the test
# asking for it fails, so the entry is removed here and there.
NO_PLUGIN_MODULE = {"schema/partners"}
MIGRATIONS_IN_VERSIONS: set[str] = set()


def _layout_section() -> str:
    text = README.read_text()
    start = text.index("\n## Layout")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def _tables(section: str) -> list[list[list[str]]]:
    """The Markdown tables of ``section``: rows of cells, header and rule rows left out."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] | None = None
    for line in section.splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if current is None:
                current = []
                tables.append(current)
                continue  # the header
            if not set("".join(cells)) <= set("-: "):
                current.append(cells)
        else:
            current = None
    return tables


def standard_names() -> set[str]:
    return {name for row in _tables(_layout_section())[0] for name in re.findall(r"`([^`]+)`", row[0])}


def part_modules() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in _tables(_layout_section())[1]:
        part, module = row[0].strip("`"), row[1].strip("`")
        found.setdefault(part, set()).add(module)
    return found


def parts() -> list[Path]:
    """Every core part and every plugin: the packages directly in schema/ and plugins/."""
    return sorted(path.parent for folder in ("schema", "plugins") for path in (ROOT / folder).glob("*/__init__.py")
                  if path.parent.name != "migrations")


def _name(entry: Path) -> str:
    return entry.name + "/" if entry.is_dir() else entry.name


def _revisions(folder: Path) -> list[Path]:
    return [f for f in folder.glob("*.py") if f.name != "__init__.py"]


def test_the_readme_tables_are_read() -> None:
    names = standard_names()
    assert {"__init__.py", "plugin.py", "models.py", "service.py", "services/", "migrations/", "tests/",
            "README.md", "loaders.py", "demo.py"} <= names
    assert "viewer.py" in part_modules()["schema/identity"]
    assert len(parts()) >= 13  # 9+ core parts and 4 plugins


@pytest.mark.parametrize("part", parts(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_of_a_part_has_a_documented_role(part: Path) -> None:
    key = str(part.relative_to(ROOT))
    allowed = standard_names() | part_modules().get(key, set())
    unknown = sorted(_name(entry) for entry in part.iterdir()
                     if entry.name not in IGNORED and not entry.name.endswith(".pyc") and _name(entry) not in allowed)
    assert not unknown, (f"{key}: {unknown} have no row in plugins/README.md 'Layout': use the house name for "
                         "the role, or add a row for a module of this part only")


@pytest.mark.parametrize("part", parts(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_part_has_its_required_files(part: Path) -> None:
    key = str(part.relative_to(ROOT))
    missing = [name for name in ("__init__.py", "plugin.py") if not (part / name).is_file()]
    if key.startswith("plugins/"):
        missing += [name for name in ("README.md",) if not (part / name).is_file()]
        if not list((part / "tests").glob("test_*.py")):
            missing.append("tests/test_*.py")
    if key in NO_PLUGIN_MODULE:
        assert missing == ["plugin.py"], f"{key} has a plugin.py now: remove it from NO_PLUGIN_MODULE and the README"
        return
    assert not missing, f"{key} lacks {missing}"


@pytest.mark.parametrize("part", parts(), ids=lambda p: str(p.relative_to(ROOT)))
def test_one_migrations_layout(part: Path) -> None:
    key = str(part.relative_to(ROOT))
    migrations = part / "migrations"
    if not (part / "models.py").is_file():
        assert not migrations.exists() or not _revisions(migrations), f"{key}: migrations without models.py"
        return
    assert migrations.is_dir(), f"{key} has tables (models.py) but no migrations/ folder"
    if key in MIGRATIONS_IN_VERSIONS:
        assert _revisions(migrations / "versions") and not _revisions(migrations), \
            f"{key} follows the layout now: remove it from MIGRATIONS_IN_VERSIONS and the README"
        return
    assert _revisions(migrations), f"{key}: no revision directly in migrations/"
    assert not (migrations / "versions").exists(), f"{key}: revisions go directly in migrations/, not versions/"
    for revision in _revisions(migrations):
        text = revision.read_text()
        assert re.search(r"^revision\b", text, re.M) and re.search(r"^down_revision\b", text, re.M), revision


def test_the_core_branch_has_the_same_shape() -> None:
    core = ROOT / "schema" / "migrations"
    assert _revisions(core) and not (core / "versions").exists()


def test_open_exceptions_are_documented() -> None:
    section = _layout_section()
    for part in NO_PLUGIN_MODULE | MIGRATIONS_IN_VERSIONS:
        assert f"`{part}`" in section, f"{part} is an exception: say why in the README's exceptions table"
