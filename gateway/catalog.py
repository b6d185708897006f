"""The catalog sync: every enabled plugin's sellable catalog, without demo data (``gateway catalog sync``).

A fresh production database has tables but nothing to sell, so every order is refused with
``CATALOG_EMPTY``. This step adds what is missing of each plugin's catalog through the
``gateway_seed_catalog`` hook, in one transaction; running it again adds nothing, and it never
changes a row that exists: where a plugin's declaration differs from the database (a price a
platform admin changed, say) it reports the drift instead. Unlike ``gateway demo seed`` it
creates no demo rows, so it is allowed with ``GATEWAY_ENV=production``. ``gateway db upgrade``
runs it when the catalog is empty (``only_if_empty``), and ``gateway demo seed`` first of all.
The command is ``gateway/cli_catalog.py``.

The host knows no catalog vocabulary: a seeder answers ``{kind: rows added}`` (credited to
itself) or a :class:`CatalogReport` (rows added per plugin, for a seeder that writes other
plugins' declarations, and drift lines).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from gateway.plugins import PluginCallError, call_in_load_order, owner_of

# pg_advisory_xact_lock key of the catalog sync: two syncs at once (two `gateway db upgrade` started
# together) run one after the other, so the second sees the first's rows instead of inserting them again.
SYNC_LOCK_KEY = 0x67775F636174616C  # "gw_catal"


@dataclass(frozen=True)
class CatalogReport:
    """What a catalog seeder did: ``{plugin: {kind: rows added}}`` and one line per drift found."""

    added: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    drift: Sequence[str] = ()


@dataclass
class SyncOutcome:
    """Every seeder's report together: rows added by plugin (in plugin order) and the drift lines."""

    added: dict[str, dict[str, int]] = field(default_factory=dict)
    drift: list[str] = field(default_factory=list)

    def add(self, plugin: str, counts: Mapping[str, int]) -> None:
        mine = self.added.setdefault(plugin, {})
        for kind, count in counts.items():
            if count:
                mine[kind] = mine.get(kind, 0) + count

    @property
    def added_anything(self) -> bool:
        return any(self.added.values())


async def run_catalog_seeders(pm: Any, session: Any, *, only_if_empty: bool = False) -> SyncOutcome:
    """Call every ``gateway_seed_catalog`` in plugin order (the core first) on ``session``; what they did."""
    outcome = SyncOutcome()
    connection = await session.connection()
    if connection.dialect.name == "postgresql":  # held until the transaction ends (SQLite: not serialized)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SYNC_LOCK_KEY})
    arguments = {"session": session, "pm": pm, "only_if_empty": only_if_empty}
    try:
        answers = await call_in_load_order(pm, "gateway_seed_catalog", arguments, after_each=session.flush)
    except PluginCallError as failed:  # the seeder's own error (a CatalogConflict names the plugins already)
        raise failed.error from None
    for plugin, answer in answers:
        if isinstance(answer, CatalogReport):
            for plugin, counts in answer.added.items():
                outcome.add(plugin, counts)
            outcome.drift.extend(answer.drift)
        else:
            outcome.add(owner_of(plugin), answer or {})
    return outcome


async def sync_with(pm: Any, sessions: Any, *, only_if_empty: bool = False) -> SyncOutcome:
    """:func:`run_catalog_seeders` in one transaction of a session from ``sessions``."""
    async with sessions() as session, session.begin():
        return await run_catalog_seeders(pm, session, only_if_empty=only_if_empty)


async def seed_catalog(runtime: Any, *, only_if_empty: bool = False) -> SyncOutcome:
    """Every enabled plugin's catalog seeder on the runtime's database, in one transaction."""
    return await sync_with(runtime.plugin_manager, runtime.sessions, only_if_empty=only_if_empty)


async def sync_if_empty(pm: Any, engine: Any) -> str | None:
    """``gateway db upgrade``'s last step: the catalog sync when the catalog is empty; a line saying so, or None."""
    from gateway.db import session_factory

    sessions = session_factory(engine)
    outcome = await sync_with(pm, sessions, only_if_empty=True)
    if outcome.added_anything:
        return f"the catalog was empty, so it was synced: {describe(outcome)}"
    missing = await would_add(pm, sessions)  # e.g. a plugin enabled since the catalog was loaded
    if not missing.added_anything:
        return None
    return (f"the catalog lacks what enabled plugins declare ({describe(missing).removeprefix('added ')}); "
            "run `gateway catalog sync` to add it")


async def would_add(pm: Any, sessions: Any) -> SyncOutcome:
    """What :func:`run_catalog_seeders` would add now, found in a transaction that is rolled back."""
    async with sessions() as session:
        transaction = await session.begin()
        try:
            return await run_catalog_seeders(pm, session)
        finally:
            await transaction.rollback()


def describe(outcome: SyncOutcome) -> str:
    parts = [f"{plugin}: " + ", ".join(f"{count} {kind}" for kind, count in counts.items())
             for plugin, counts in outcome.added.items() if counts]
    return "added " + "; ".join(parts) if parts else "had nothing to add (the catalog was complete)"


def describe_drift(outcome: SyncOutcome) -> list[str]:
    if not outcome.drift:
        return []
    return [f"{len(outcome.drift)} declared value(s) differ from the database; the sync leaves existing rows "
            "as they are (a platform admin changes prices, with history):", *(f"  {line}" for line in outcome.drift)]
