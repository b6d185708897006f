"""`gateway plugin new`: the plugin it writes installs, passes its own tests and serves its field.

The end-to-end test runs the commands of plugins/README.md's "worked example: commands" block
as they stand, in a temporary folder: the scaffold, the install (into a throw-away folder, not
the gateway's environment: a `pip` shim turns the guide's editable install into
``pip install --no-deps --no-build-isolation --target``), the plugin's generated tests,
``gateway db upgrade``, ``gateway demo seed`` and the query, on a temporary SQLite database. It
then sets the storage through the gateway, reads it back as another role, sees a refused role
refused, and type-checks and lints the generated package with its own settings. It runs once,
not per backend (SQLite only: the generated tests must not share the suite's PostgreSQL
database). The other tests check the guide's code blocks against the scaffold and the names
it refuses.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from schema.scaffold import Names, ScaffoldError, check_name, create_plugin, render

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "plugins" / "README.md"
BIN = Path(sys.executable).parent
BUDGET = 85.0  # seconds for the whole end-to-end test
EXAMPLE = re.compile(r"<!-- worked example: (?P<label>[^>]+?) -->\n```[a-z]*\n(?P<code>.*?)\n```", re.S)
PIP_SHIM = """#!/bin/sh
# the guide's `pip install --no-build-isolation -e .`, into a throw-away folder instead of the gateway's environment
if [ "$*" != "install --no-build-isolation -e ." ]; then echo "pip shim: unexpected 'pip $*'" >&2; exit 2; fi
exec "{pip}" install --quiet --no-deps --no-build-isolation --target "$SCAFFOLD_SITE" .
"""


def worked_examples() -> dict[str, str]:
    """The guide's blocks marked ``<!-- worked example: LABEL -->``, by label."""
    return {match["label"]: textwrap.dedent(match["code"]) for match in EXAMPLE.finditer(GUIDE.read_text())}


def rendered(name: str = "backup") -> dict[str, str]:
    return {str(path): text for path, text in render(Names(name), revision="0123456789ab", head="cb499db9bb03",
                                                     created=dt.datetime(2026, 1, 1)).items()}


def contains_excerpt(text: str, excerpt: str) -> bool:
    """``excerpt`` (dedented) is a run of whole lines of ``text``, at any indentation."""
    lines, wanted = text.splitlines(), excerpt.splitlines()
    return any(textwrap.dedent("\n".join(lines[i:i + len(wanted)])) == excerpt.rstrip("\n")
               for i in range(len(lines) - len(wanted) + 1))


def test_the_guides_worked_example_is_what_the_scaffold_writes() -> None:
    examples = worked_examples()
    files = rendered("backup")
    code = {label: text for label, text in examples.items() if label != "commands"}
    assert "commands" in examples and len(code) >= 5, sorted(examples)
    for label, text in code.items():
        assert label in files, f"the guide shows {label}, which the scaffold does not write ({sorted(files)})"
        assert contains_excerpt(files[label], text), f"the guide's {label} block is not what the scaffold writes:\n{text}"


def test_the_scaffold_follows_the_layout_and_replaces_every_placeholder() -> None:
    spec = importlib.util.spec_from_file_location("layout_rules", ROOT / "tests" / "test_layout.py")
    assert spec is not None and spec.loader is not None
    layout = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layout)
    files = rendered("cloud_backup")
    package = {path.split("/")[1] + ("/" if path.count("/") > 1 else "")
               for path in files if path.startswith("cloud_backup/")}
    assert package - layout.standard_names() == set(), "a file of the scaffold has no row in plugins/README.md 'Layout'"
    assert {"plugin.py", "README.md", "tests/", "models.py", "migrations/", "catalog.py"} <= package
    leftovers = sorted(path for path, text in files.items()
                       if re.search(r"my_product|MyProduct|myProduct|MY_PRODUCT|My product|__[A-Z_]+__", text))
    assert leftovers == []
    assert 'cloud_backup = "cloud_backup.plugin"' in files["pyproject.toml"]
    assert all(f'"{code}"' in files["cloud_backup/catalog.py"] for code in Names("cloud_backup").catalog_codes())
    assert "cloudBackupAccount" in files["cloud_backup/tests/test_cloud_backup_graphql.py"]
    migration = next(text for path, text in files.items() if path.startswith("cloud_backup/migrations/"))
    assert "depends_on: str | Sequence[str] | None = 'cb499db9bb03'" in migration
    assert "branch_labels: str | Sequence[str] | None = ('cloud_backup',)" in migration


@pytest.mark.parametrize(("name", "reason"), [
    ("Backup", "lowercase letters"), ("1backup", "lowercase letters"), ("cloud__backup", "single underscores"),
    ("cloud-backup", "lowercase letters"), ("a" * 21, "longer than 20"), ("class", "keyword"),
    ("match", "keyword"), ("mail", "installed already"), ("json", "can be imported already"),
    ("gateway", "can be imported already"),
])
def test_a_name_that_cannot_be_a_plugin_is_refused_with_the_reason(name: str, reason: str) -> None:
    with pytest.raises(ScaffoldError, match=reason):
        check_name(name, installed=["core", "mail"])


def test_a_name_whose_catalog_codes_another_plugin_declares_is_refused() -> None:
    with pytest.raises(ScaffoldError, match="DESK_SMS .* declared by the installed plugin 'desk_im'"):
        check_name("desk_sms", installed=["core", "desk_im"], declared={"DESK": "desk_im", "DESK_SMS": "desk_im"})
    assert check_name("backup", installed=["core"], declared={"DESK": "desk_im"}).upper == "BACKUP"


def test_an_existing_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "backup").mkdir()
    with pytest.raises(ScaffoldError, match="exists already"):
        create_plugin("backup", tmp_path, installed=[], declared={}, head="cb499db9bb03")
    assert list((tmp_path / "backup").iterdir()) == []


def _environment(tmp_path: Path, site: Path) -> dict[str, str]:
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "pip").write_text(PIP_SHIM.format(pip=BIN / "pip"))
    (shims / "pip").chmod(0o755)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("GATEWAY_", "PYTEST_", "MYPY")) and key != "PYTHONPATH"}
    return env | {
        "PATH": os.pathsep.join([str(shims), str(BIN), env.get("PATH", "")]),
        "PYTHONPATH": str(site), "SCAFFOLD_SITE": str(site),
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}",
    }


def _run(args: list[str], *, cwd: Path, env: dict[str, str], deadline: float,
         stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    remaining = deadline - time.monotonic()
    assert remaining > 1, f"out of time before {args}"
    return subprocess.run(args, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=remaining)


def _last_json(output: str) -> Any:
    """The JSON document ``gateway query`` printed last (after the tests' and the seed's output)."""
    start = output.rindex("\n{\n") + 1 if not output.startswith("{\n") else 0
    return json.loads(output[start:])


def test_a_scaffolded_plugin_installs_passes_its_tests_and_serves_its_field(tmp_path: Path) -> None:
    started = time.monotonic()
    deadline = started + BUDGET
    site = tmp_path / "site"
    env = _environment(tmp_path, site)
    commands = worked_examples()["commands"]

    # the guide's commands, as they stand
    guide = _run(["bash", "-euo", "pipefail", "-c", commands], cwd=tmp_path, env=env, deadline=deadline)
    output = guide.stdout
    assert guide.returncode == 0, f"the worked example's commands failed:\n{output[-6000:]}\n{guide.stderr[-4000:]}"
    summary = re.search(r"^=+ (?P<line>.*) in [\d.]+s.* =+$", output, re.M)
    assert summary is not None, output[-3000:]
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (\w+)", summary["line"])}
    assert counts.get("passed", 0) >= 10 and not counts.keys() - {"passed"}, summary["line"]
    # the org super admin of acme.example sees its organization and the demo account
    nodes = _last_json(output)["organizations"]["nodes"]
    assert [(n["domain"], n["backupAccount"]) for n in nodes] == [("acme.example", {"storageGb": 50})], nodes
    acme = nodes[0]["id"]
    assert (tmp_path / "backup" / "pyproject.toml").is_file() and (site / "backup" / "plugin.py").is_file()

    # through the gateway: the mutation, read back by another role; a refused role is refused
    env = env | {"GATEWAY_PLUGINS": "backup"}

    def gateway(document: str, role: str, *variables: str) -> subprocess.CompletedProcess[str]:
        token = _run([str(BIN / "gateway"), "demo", "token", role], cwd=tmp_path, env=env, deadline=deadline)
        assert token.returncode == 0, token.stderr
        return _run([str(BIN / "gateway"), "query", "-", "--token", token.stdout.strip(),
                     *(f"--var={v}" for v in variables)], cwd=tmp_path, env=env, deadline=deadline, stdin=document)

    mutation = ("mutation($id: ID!, $gb: Int!) { setBackupStorage(input: {organizationId: $id, storageGb: $gb}) "
                "{ account { storageGb } userErrors { code } } }")
    changed = gateway(mutation, "org_super_admin", f"id={acme}", "gb=75")
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout) == {"setBackupStorage": {"account": {"storageGb": 75}, "userErrors": []}}
    read = gateway("query($id: ID!) { organization(id: $id) { backupAccount { storageGb } } }", "org_admin",
                   f"id={acme}")
    assert read.returncode == 0 and json.loads(read.stdout) == {"organization": {"backupAccount": {"storageGb": 75}}}
    refused = gateway(mutation, "org_member", f"id={acme}", "gb=1")
    assert refused.returncode == 1 and "[FORBIDDEN]" in refused.stderr, refused.stderr

    # the generated package passes its own mypy (strict) and ruff settings
    project = tmp_path / "backup"
    lint = _run([str(BIN / "ruff"), "check", "--no-cache", "."], cwd=project, env=env, deadline=deadline)
    assert lint.returncode == 0, lint.stdout
    typed = _run([str(BIN / "mypy"), "--cache-dir", str(tmp_path / "mypy_cache")], cwd=project,
                 env=env | {"MYPYPATH": str(ROOT)}, deadline=deadline)
    assert typed.returncode == 0, typed.stdout[-4000:]
    assert time.monotonic() - started < BUDGET
