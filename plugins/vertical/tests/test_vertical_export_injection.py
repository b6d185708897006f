"""The vertical customers export neutralises spreadsheet formulas in every text cell (OWASP CSV injection)."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from sqlalchemy import update

from gateway.http import create_app
from plugins.vertical.tests.conftest import VerticalWorld
from schema import models

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+1", "@SUM(A1)", "\t=1"]


async def test_customer_export_neutralises_formulas(runtime: Any, vworld: VerticalWorld) -> None:
    keys = sorted(vworld.world.organizations)
    async with runtime.sessions() as session, session.begin():
        for key, name in zip(keys, HOSTILE, strict=False):  # straight to the table: whatever validation let in
            await session.execute(update(models.Organization)
                                  .where(models.Organization.id == vworld.world.organizations[key])
                                  .values(name=name, domain=f"-{key}+1.example"))
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(f"/exports/vertical/solutions/{vworld.solution_id}/customers.csv",
                                    headers={"Authorization": f"Bearer {vworld.tokens['developer']}"})
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows
    names = {row["organization_name"] for row in rows}
    assert names <= {"'" + name for name in HOSTILE}, names
    assert all(row["domain"].startswith("'-") for row in rows)
    for row in rows:
        for column, cell in row.items():
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (column, cell)
            if cell.startswith("-"):
                float(cell)  # only a negative number may start with a minus
