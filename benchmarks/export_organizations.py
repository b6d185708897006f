"""Export organizations as CSV through the real route; print peak memory and rows per second.

    .venv/bin/python benchmarks/export_organizations.py [--rows 10000,100000]

A temporary SQLite database gets the organizations (bulk insert), a platform admin token,
and the Starlette app answers ``GET /exports/organizations.csv`` as it would over HTTP. The
response body is consumed chunk by chunk and dropped, as a client writing to a file would.
Each size is measured twice: once under tracemalloc (peak Python memory while exporting),
once without it (throughput, since tracing slows allocation). The peak must not grow with
the row count: the export holds one chunk of rows at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select  # noqa: E402

from gateway.auth import get_or_create_user, issue_token  # noqa: E402
from gateway.http import create_app  # noqa: E402
from gateway.runtime import Runtime  # noqa: E402
from gateway.settings import load_settings  # noqa: E402
from gateway.testing import create_tables  # noqa: E402
from schema import models  # noqa: E402

BATCH = 10_000


async def add_organizations(runtime: Runtime, start: int, stop: int) -> None:
    created = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    async with runtime.engine.begin() as connection:
        partner_id = (await connection.execute(select(models.Partner.id))).scalar()
        for low in range(start, stop, BATCH):
            await connection.execute(insert(models.Organization), [
                {"name": f"Customer {i:07d}", "domain": f"customer{i}.example", "domain_verified": i % 3 != 0,
                 "domain_verification_code": "code", "status": "ACTIVE", "country": ("US", "DE", "IN", "FR")[i % 4],
                 "city": "Town", "partner_id": partner_id if i % 2 else None, "created_at": created}
                for i in range(low, min(low + BATCH, stop))
            ])


async def drain(app: Any, path: str, token: str) -> tuple[int, int]:
    """GET ``path`` through the ASGI app; the body is counted and dropped. Returns (status, bytes)."""
    status = size = 0
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if requested:
            await asyncio.Event().wait()  # connected until the response ends
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "server": ("bench", 80),
             "client": ("127.0.0.1", 1), "headers": [(b"authorization", f"Bearer {token}".encode())]}
    await app(scope, receive, send)
    return status, size


async def measure(app: Any, token: str, rows: int) -> None:
    await drain(app, "/exports/organizations.csv", token)  # warm-up: compiled statements, caches, pages
    tracemalloc.start()
    tracemalloc.reset_peak()
    status, size = await drain(app, "/exports/organizations.csv", token)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    started = time.perf_counter()
    status_again, _ = await drain(app, "/exports/organizations.csv", token)
    seconds = time.perf_counter() - started
    assert status == status_again == 200, status
    print(f"{rows:>9,} rows  {size / 1e6:8.1f} MB of CSV  peak memory {peak / 1e6:6.2f} MB"
          f"  {rows / seconds:>9,.0f} rows/s  ({seconds:.2f} s)", flush=True)


async def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(database_url=f"sqlite+aiosqlite:///{folder}/export.db", plugins="core")
        runtime = Runtime(settings)
        await create_tables(runtime)
        async with runtime.sessions() as session, session.begin():
            session.add(models.Partner(name="Bench Partner", code="BENCH1", kind="RESELLER"))
            admin = await get_or_create_user(session, "bench@platform.example", "Bench", "ADMIN")
            _, token = await issue_token(session, admin, "benchmark")
        app = create_app(runtime)
        print(f"GET /exports/organizations.csv from SQLite ({sys.version.split()[0]})")
        have = 0
        for rows in sorted(sizes):
            await add_organizations(runtime, have, rows)
            have = rows
            async with runtime.sessions() as session:
                assert await session.scalar(select(func.count()).select_from(models.Organization)) == rows
            await measure(app, token, rows)
        await runtime.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,100000", help="comma-separated row counts (default 10000,100000)")
    arguments = parser.parse_args()
    asyncio.run(main([int(n) for n in arguments.rows.split(",")]))
