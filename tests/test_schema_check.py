"""`gateway schema check`: breaking and dangerous changes, judged by the deprecation policy (schema/DEPRECATIONS.md).

Schemas come from SDL strings and from the runtime: a probe plugin adds ``Query.schemaCheckProbe``;
removing it is the code without the plugin. The command's code is the core alone (GATEWAY_PLUGINS=core).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import subprocess
from pathlib import Path

import pytest
import strawberry
from click.testing import CliRunner, Result

from gateway.cli import cli
from gateway.composition import Query, extends
from gateway.hookspecs import hookimpl
from gateway.schema_check import (
    DEPRECATION_DAYS,
    ChangelogError,
    changelog_notes,
    compare,
    coordinate_of,
    parse_changelog,
)
from gateway.testing import make_test_runtime

ROOT = Path(__file__).resolve().parents[1]
TODAY = dt.date.today()
PAST = TODAY - dt.timedelta(days=DEPRECATION_DAYS + 30)  # deprecated on
PASSED = TODAY - dt.timedelta(days=20)  # removable after: passed
HEADER = "| coordinate | deprecated on | reason / replacement | removable after |\n|---|---|---|---|\n"
ENV = {"GATEWAY_PLUGINS": "core"}


def changelog(*rows: str) -> str:
    return "# Deprecations\n\nSome prose.\n\n" + HEADER + "".join(f"{row}\n" for row in rows)


def row(coordinate: str, removable_after: dt.date = PASSED, deprecated_on: dt.date = PAST) -> str:
    return f"| `{coordinate}` | {deprecated_on} | use something else | {removable_after} |"


EMPTY = parse_changelog(changelog())


# ---------------------------------------------------------------- the probe plugin
@extends(Query)
class Probe:
    @strawberry.field(description="A field only the probe plugin adds.")
    def schema_check_probe(self, first: int = 10) -> int:
        return first


@extends(Query)
class DeprecatedProbe:
    @strawberry.field(description="A field only the probe plugin adds.", deprecation_reason="Use nothing.")
    def schema_check_probe(self, first: int = 10) -> int:
        return first


@extends(Query)
class ProbeWithOtherDefault:
    @strawberry.field(description="A field only the probe plugin adds.")
    def schema_check_probe(self, first: int = 25) -> int:
        return first


class ProbePlugin:
    def __init__(self, extension: type) -> None:
        self.extension = extension

    @hookimpl
    def gateway_type_extensions(self) -> list[type]:
        return [self.extension]


def runtime_sdl(extension: type | None = None) -> str:
    extra: list[tuple[str, object]] = [("probe", ProbePlugin(extension))] if extension is not None else []
    runtime = make_test_runtime("sqlite", plugins=["core"], extra_plugins=extra)
    try:
        return runtime.schema.as_str().rstrip("\n") + "\n"
    finally:
        asyncio.run(runtime.dispose())


@pytest.fixture(scope="module")
def sdls() -> dict[str, str]:
    """The core's SDL (what the command composes with GATEWAY_PLUGINS=core) and the probe's variants."""
    return {"core": runtime_sdl(), "probe": runtime_sdl(Probe), "deprecated": runtime_sdl(DeprecatedProbe),
            "other_default": runtime_sdl(ProbeWithOtherDefault)}


# ---------------------------------------------------------------- the policy, on the runtime's schemas
def test_removing_a_plugin_field_without_deprecation_is_refused_naming_it(sdls: dict[str, str]) -> None:
    result = compare(sdls["probe"], sdls["core"], EMPTY, today=TODAY)
    assert [c.coordinate for c in result.refused] == ["Query.schemaCheckProbe"]
    verdict = result.refused[0].verdict
    assert "Query.schemaCheckProbe was removed without deprecation" in verdict
    assert 'deprecation_reason="' in verdict and "schema/DEPRECATIONS.md" in verdict
    assert f"it may be removed after {TODAY + dt.timedelta(days=DEPRECATION_DAYS)}" in verdict


def test_a_deprecated_field_recorded_past_its_date_may_go(sdls: dict[str, str]) -> None:
    recorded = parse_changelog(changelog(row("Query.schemaCheckProbe")))
    result = compare(sdls["deprecated"], sdls["core"], recorded, today=TODAY)
    assert [(c.coordinate, c.allowed) for c in result.breaking] == [("Query.schemaCheckProbe", True)]
    assert result.refused == []
    assert f"removable after {PASSED}" in result.breaking[0].verdict


def test_a_recorded_date_in_the_future_says_when_it_may_go(sdls: dict[str, str]) -> None:
    later = TODAY + dt.timedelta(days=30)
    recorded = parse_changelog(changelog(row("Query.schemaCheckProbe", removable_after=later, deprecated_on=TODAY
                                             - dt.timedelta(days=DEPRECATION_DAYS - 30))))
    result = compare(sdls["deprecated"], sdls["core"], recorded, today=TODAY)
    assert [c.coordinate for c in result.refused] == ["Query.schemaCheckProbe"]
    assert f"Query.schemaCheckProbe may be removed after {later}" in result.refused[0].verdict
    assert "line 7" in result.refused[0].verdict  # the changelog row that says so


def test_recorded_but_not_deprecated_in_the_older_schema_is_refused(sdls: dict[str, str]) -> None:
    recorded = parse_changelog(changelog(row("Query.schemaCheckProbe")))
    result = compare(sdls["probe"], sdls["core"], recorded, today=TODAY)
    assert [c.coordinate for c in result.refused] == ["Query.schemaCheckProbe"]
    assert "without deprecation" in result.refused[0].verdict


def test_deprecated_but_not_recorded_is_refused(sdls: dict[str, str]) -> None:
    result = compare(sdls["deprecated"], sdls["core"], EMPTY, today=TODAY)
    assert "is deprecated but not recorded in schema/DEPRECATIONS.md" in result.refused[0].verdict


def test_a_changed_default_is_a_dangerous_change_only(sdls: dict[str, str]) -> None:
    result = compare(sdls["probe"], sdls["other_default"], EMPTY, today=TODAY)
    assert result.breaking == []
    assert [(c.coordinate, c.kind) for c in result.dangerous] == [
        ("Query.schemaCheckProbe(first:)", "ARG_DEFAULT_VALUE_CHANGE")]


def test_adding_a_field_is_no_change_to_report(sdls: dict[str, str]) -> None:
    assert compare(sdls["core"], sdls["probe"], EMPTY, today=TODAY).changes == []


# ---------------------------------------------------------------- the policy, on SDL strings
OLD = """
type Query { shelf(id: ID!): Shelf  count(kind: String, old: Int @deprecated(reason: "x")): Int  color: Color }
type Shelf { books: [Book!]! @deprecated(reason: "Use titles.")  titles: [String!]! }
type Book { title: String! }
enum Color { RED GREEN @deprecated(reason: "no green") }
input Filter { name: String }
"""


def test_removals_of_arguments_and_enum_values_follow_the_policy() -> None:
    new = OLD.replace(", old: Int @deprecated(reason: \"x\")", "").replace(' GREEN @deprecated(reason: "no green")', "")
    refused = compare(OLD, new, EMPTY, today=TODAY)
    assert sorted(c.coordinate for c in refused.refused) == ["Color.GREEN", "Query.count(old:)"]
    recorded = parse_changelog(changelog(row("Query.count(old:)"), row("Color.GREEN")))
    assert compare(OLD, new, recorded, today=TODAY).refused == []


def test_a_type_goes_with_the_last_deprecated_field_that_returned_it() -> None:
    new = OLD.replace('books: [Book!]! @deprecated(reason: "Use titles.")', "").replace(
        "type Book { title: String! }", "")
    result = compare(OLD, new, parse_changelog(changelog(row("Shelf.books"))), today=TODAY)
    assert {(c.coordinate, c.allowed) for c in result.breaking} == {("Shelf.books", True), ("Book", True)}
    refused = compare(OLD, new, EMPTY, today=TODAY)
    assert {c.coordinate for c in refused.refused} == {"Shelf.books", "Book"}
    book = next(c for c in refused.refused if c.coordinate == "Book")
    assert "not so: Shelf.books" in book.verdict


def test_changes_no_deprecation_covers_are_refused() -> None:
    new = OLD.replace("titles: [String!]!", "titles: [Int!]!").replace(
        "shelf(id: ID!)", "shelf(id: ID!, shop: ID!)")
    result = compare(OLD, new, parse_changelog(changelog(row("Shelf.titles"))), today=TODAY)
    assert {(c.coordinate, c.kind) for c in result.refused} == {
        ("Shelf.titles", "FIELD_CHANGED_KIND"), ("Query.shelf(shop:)", "REQUIRED_ARG_ADDED")}
    assert "optional" in next(c for c in result.refused if c.kind == "REQUIRED_ARG_ADDED").verdict


def test_enum_value_and_optional_argument_added_are_warnings() -> None:
    new = OLD.replace("enum Color { RED", "enum Color { RED BLUE").replace("input Filter { name: String }",
                                                                          "input Filter { name: String tag: String }")
    new = new.replace("count(kind: String,", "count(kind: String, limit: Int,")
    result = compare(OLD, new, EMPTY, today=TODAY)
    assert result.breaking == []
    assert {(c.coordinate, c.kind) for c in result.dangerous} == {
        ("Color.BLUE", "VALUE_ADDED_TO_ENUM"), ("Query.count(limit:)", "OPTIONAL_ARG_ADDED"),
        ("Filter.tag", "OPTIONAL_INPUT_FIELD_ADDED")}


def test_coordinates_of_graphql_core_descriptions() -> None:
    assert coordinate_of("TYPE_REMOVED", "Standard scalar Float was removed because it is not referenced anymore."
                         ) == "Float"
    assert coordinate_of("TYPE_REMOVED_FROM_UNION", "Book was removed from union type Item.") == "Item"
    assert coordinate_of("IMPLEMENTED_INTERFACE_REMOVED", "Book no longer implements interface Node.") == "Book"
    assert coordinate_of("ARG_CHANGED_KIND", "Argument Query.a(b:) has changed type from Int to String.") == "Query.a(b:)"
    assert coordinate_of("DIRECTIVE_REMOVED", "Directive @cost was removed.") == "@cost"


# ---------------------------------------------------------------- the changelog
@pytest.mark.parametrize(("line", "message"), [
    ("| `Query.a` | 2026-01-01 | gone |", "expected 4 cells"),
    ("| `Query.a` | 2026-13-01 | gone | 2026-06-01 |", "deprecated on '2026-13-01' is not a date"),
    ("| `Query.a` | 2026-01-01 | gone | soon |", "removable after 'soon' is not a date"),
    ("| `Query.a` | 2026-01-01 | gone | 2026-02-01 |", "less than 90 days after its deprecation on 2026-01-01"),
    ("| `Query a` | 2026-01-01 | gone | 2026-06-01 |", "is not a schema coordinate"),
    ("| `Query.a` | 2026-01-01 |  | 2026-06-01 |", "reason / replacement of Query.a is empty"),
])
def test_a_malformed_changelog_line_is_an_error_naming_it(line: str, message: str) -> None:
    text = changelog(row("Query.b"), line)
    with pytest.raises(ChangelogError, match=re.escape(message)) as raised:
        parse_changelog(text, source="DEPRECATIONS.md")
    assert "DEPRECATIONS.md line 8:" in str(raised.value)  # the second row
    assert text.splitlines()[7] == line


def test_a_coordinate_recorded_twice_or_no_table_is_an_error() -> None:
    with pytest.raises(ChangelogError, match="line 8: Query.b is already recorded on line 7"):
        parse_changelog(changelog(row("Query.b"), row("Query.b")))
    with pytest.raises(ChangelogError, match="no table with the header"):
        parse_changelog("# Deprecations\n\nnothing\n")


def test_the_committed_changelog_agrees_with_the_committed_sdl() -> None:
    committed = parse_changelog((ROOT / "schema" / "DEPRECATIONS.md").read_text())
    sdl = (ROOT / "schema" / "schema.graphql").read_text()
    assert list(changelog_notes(sdl, committed)) == []
    assert "LargeDeal.organization" in committed.entries


# ---------------------------------------------------------------- the command
def invoke(args: list[str]) -> Result:
    return CliRunner().invoke(cli, ["schema", "check", *args], env=ENV)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def without_an_enum_value(sdl: str) -> str:
    """The SDL with the first value of its first enum removed: the code adds it back (a dangerous change)."""
    return re.sub(r"(enum \w+ \{\n)  \w+\n", r"\1", sdl, count=1)


def test_check_against_a_file_exits_1_naming_the_removed_field(sdls: dict[str, str], tmp_path: Path) -> None:
    log = write(tmp_path / "DEPRECATIONS.md", changelog())
    baseline = write(tmp_path / "with_probe.graphql", sdls["probe"])
    result = invoke(["--against", str(baseline), "--changelog", str(log)])
    assert result.exit_code == 1, result.output
    assert "BREAKING Query.schemaCheckProbe: Field Query.schemaCheckProbe was removed." in result.stdout
    assert "deprecate it first with deprecation_reason=" in result.stdout
    assert "1 breaking change(s) refused: Query.schemaCheckProbe" in result.stderr
    as_json = invoke(["--against", str(baseline), "--changelog", str(log), "--json"])
    assert as_json.exit_code == 1
    document = json.loads(as_json.stdout)
    assert document["ok"] is False and document["refused"] == ["Query.schemaCheckProbe"]
    assert document["comparisons"][0]["breaking"][0]["kind"] == "FIELD_REMOVED"


def test_check_passes_with_dangerous_changes_as_warnings(sdls: dict[str, str], tmp_path: Path) -> None:
    log = write(tmp_path / "DEPRECATIONS.md", changelog())
    same = write(tmp_path / "schema.graphql", sdls["core"])
    result = invoke(["--schema-file", str(same), "--changelog", str(log)])
    assert result.exit_code == 0, result.output
    assert "the same schema" in result.stdout
    older = write(tmp_path / "older.graphql", without_an_enum_value(sdls["core"]))
    warned = invoke(["--against", str(older), "--changelog", str(log)])
    assert warned.exit_code == 0, warned.output
    assert "warning: dangerous" in warned.stdout and "VALUE_ADDED_TO_ENUM" in warned.stdout


def test_a_malformed_changelog_stops_the_command_naming_the_line(sdls: dict[str, str], tmp_path: Path) -> None:
    log = write(tmp_path / "DEPRECATIONS.md", changelog("| `Query.a` | yesterday | gone | 2026-06-01 |"))
    result = invoke(["--schema-file", str(write(tmp_path / "s.graphql", sdls["core"])), "--changelog", str(log)])
    assert result.exit_code == 1
    assert "DEPRECATIONS.md line 7: deprecated on 'yesterday' is not a date" in result.stderr


# ---------------------------------------------------------------- git: --against REF and --since REF
def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        write(repo / name, text)
    git(repo, "add", *files)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    return tmp_path


def paths(repo: Path) -> list[str]:
    return ["--schema-file", str(repo / "schema" / "schema.graphql"), "--changelog",
            str(repo / "schema" / "DEPRECATIONS.md")]


def test_check_against_a_git_ref(sdls: dict[str, str], repo: Path) -> None:
    commit(repo, {"schema/schema.graphql": sdls["probe"], "schema/DEPRECATIONS.md": changelog()}, "with the probe")
    write(repo / "schema" / "schema.graphql", sdls["core"])  # regenerated, not committed
    assert invoke(paths(repo)).exit_code == 0  # the file matches the code
    result = invoke(["--against", "HEAD", *paths(repo)])
    assert result.exit_code == 1, result.output
    assert "schema.graphql at HEAD" in result.stdout and "Query.schemaCheckProbe" in result.stderr
    unknown = invoke(["--against", "no-such-ref", *paths(repo)])
    assert unknown.exit_code == 1 and "'no-such-ref' is not a commit" in unknown.stderr


def test_the_history_walk_catches_a_removal_committed_with_a_regenerated_sdl(sdls: dict[str, str],
                                                                            repo: Path) -> None:
    start = commit(repo, {"schema/schema.graphql": sdls["probe"], "schema/DEPRECATIONS.md": changelog()},
                   "the policy")
    commit(repo, {"schema/schema.graphql": sdls["core"]}, "drop the probe field")
    assert invoke(paths(repo)).exit_code == 0  # the code and the file agree: only the history shows the removal
    result = invoke(["--since", start, *paths(repo)])
    assert result.exit_code == 1, result.output
    assert "(drop the probe field)" in result.stdout
    assert "Query.schemaCheckProbe was removed without deprecation" in result.stdout


def test_the_history_walk_accepts_a_removal_after_its_deprecation(sdls: dict[str, str], repo: Path) -> None:
    start = commit(repo, {"schema/schema.graphql": sdls["probe"], "schema/DEPRECATIONS.md": changelog()}, "policy")
    commit(repo, {"schema/schema.graphql": sdls["deprecated"],
                  "schema/DEPRECATIONS.md": changelog(row("Query.schemaCheckProbe"))}, "deprecate the probe")
    commit(repo, {"schema/schema.graphql": sdls["core"]}, "remove the probe")
    result = invoke(["--since", start, *paths(repo)])
    assert result.exit_code == 0, result.output
    assert "allowed: deprecated since" in result.stdout


def test_a_break_undone_by_a_later_commit_is_not_counted(sdls: dict[str, str], repo: Path) -> None:
    start = commit(repo, {"schema/schema.graphql": sdls["core"], "schema/DEPRECATIONS.md": changelog()}, "policy")
    commit(repo, {"schema/schema.graphql": without_an_enum_value(sdls["core"])}, "drop an enum value")
    commit(repo, {"schema/schema.graphql": sdls["core"]}, "put it back")
    result = invoke(["--since", start, *paths(repo)])
    assert result.exit_code == 0, result.output
    assert "undone later" in result.stdout


def test_without_git_history_only_the_code_is_checked(sdls: dict[str, str], tmp_path: Path) -> None:
    write(tmp_path / "schema" / "schema.graphql", sdls["core"])
    write(tmp_path / "schema" / "DEPRECATIONS.md", changelog())
    result = invoke(["--since", "HEAD", *paths(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "no git history here" in result.stderr and "checking only the code" in result.stderr


def test_a_shallow_clone_says_so(sdls: dict[str, str], repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    commit(repo, {"schema/schema.graphql": sdls["core"], "schema/DEPRECATIONS.md": changelog()}, "one")
    commit(repo, {"schema/DEPRECATIONS.md": changelog(row("Query.gone"))}, "two")
    clone = tmp_path_factory.mktemp("shallow") / "clone"
    git(repo, "clone", "-q", "--depth", "1", f"file://{repo}", str(clone))
    result = invoke(["--since", "HEAD", *paths(clone)])
    assert result.exit_code == 0, result.output
    assert "shallow clone" in result.stderr
