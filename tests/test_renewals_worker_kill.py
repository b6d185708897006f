"""Renewals of all four products run by a real ``gateway worker`` on PostgreSQL, the worker SIGKILLed mid-job
after the processor charged and before the renewal committed; a second worker retries the stalled job; the
ledger is checked at the processor (by idempotency key) and in ``renewal_charges``/``payments``.

The clock moves through the queue: the subscriptions' periods end in the (real) future, and the job row,
written with ``request_job(..., as_of=)``, carries a moment after they end; the worker (and, after the kill,
the retry) runs the job at that clock. The dunning state a retry needs (PAST_DUE, next attempt due) is made
by a real earlier sweep, in this process, at a clock just after the period ended, with a declining processor.

The processor (:class:`KillableProcessor`, in the worker) keeps its own durable ledger in tables of its
own (its own connection, committed before it answers: a real processor's charge survives our crash), is
idempotent per key, and hangs on its Nth new charge so the test can kill the worker there.
Run as a script (``python tests/test_renewals_worker_kill.py worker``) it is ``gateway`` with that processor.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from gateway.hookspecs import hookimpl
from schema.billing.processor import PaymentDeclined

POSTGRES_ENV = "GATEWAY_TEST_POSTGRES_URL"
pytestmark = [pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"{POSTGRES_ENV} is not set"),
              pytest.mark.timeout(90)]
SCRIPT = Path(__file__)
PLUGINS = "mail,vertical,desk_im,certificates"
HANG_ENV = "KILLTEST_HANG_ON_CHARGE"  # the worker's processor hangs on its Nth new charge
DECLINE = "tok_decline"
PROCESSOR_TABLES = [
    "CREATE TABLE IF NOT EXISTS killtest_processor_charges (key text PRIMARY KEY, token text NOT NULL, "
    "amount numeric NOT NULL, currency text NOT NULL, reference text NOT NULL, pid integer NOT NULL)",
    "CREATE TABLE IF NOT EXISTS killtest_processor_calls (id serial PRIMARY KEY, key text NOT NULL, "
    "outcome text NOT NULL, pid integer NOT NULL, hung boolean NOT NULL DEFAULT false)",
]


class KillableProcessor:
    """A payment processor with a durable ledger: one charge per idempotency key, a replay answers the first
    charge's reference; declines ``tok_decline``; hangs after its Nth new charge when ``KILLTEST_HANG_ON_CHARGE=N``."""

    def __init__(self) -> None:
        self._engine: AsyncEngine | None = None
        self._new_charges = 0
        hang = os.environ.get(HANG_ENV)
        self._hang_on = int(hang) if hang else None

    @hookimpl(tryfirst=True)
    def gateway_payment_processor(self) -> KillableProcessor:
        return self

    async def charge(self, token: str, amount: Decimal, description: str, idempotency_key: str | None = None,
                     currency: str = "USD") -> str:
        assert idempotency_key is not None
        if self._engine is None:
            self._engine = create_async_engine(os.environ["GATEWAY_DATABASE_URL"], poolclass=NullPool)
        pid = os.getpid()
        async with self._engine.begin() as connection:
            if token == DECLINE:
                await connection.execute(text("INSERT INTO killtest_processor_calls (key, outcome, pid) "
                                              "VALUES (:k, 'declined', :p)"), {"k": idempotency_key, "p": pid})
                outcome, reference = "declined", None
            else:
                reference = await connection.scalar(text(
                    "INSERT INTO killtest_processor_charges (key, token, amount, currency, reference, pid) "
                    "VALUES (:k, :t, :a, :c, :r, :p) ON CONFLICT (key) DO NOTHING RETURNING reference"),
                    {"k": idempotency_key, "t": token, "a": amount, "c": currency, "p": pid,
                     "r": f"kt_{uuid.uuid4().hex[:16]}"})
                outcome = "charged" if reference is not None else "replayed"
                if reference is None:
                    reference = await connection.scalar(text(
                        "SELECT reference FROM killtest_processor_charges WHERE key = :k"), {"k": idempotency_key})
                else:
                    self._new_charges += 1
                hang = outcome == "charged" and self._new_charges == self._hang_on
                await connection.execute(text("INSERT INTO killtest_processor_calls (key, outcome, pid, hung) "
                                              "VALUES (:k, :o, :p, :h)"),
                                         {"k": idempotency_key, "o": outcome, "p": pid, "h": hang})
        if outcome == "declined":
            raise PaymentDeclined("Insufficient funds.")
        if hang:  # charged and committed at the processor; the renewal's transaction is still open
            await asyncio.sleep(3600)
        assert reference is not None
        return str(reference)


# ---------------------------------------------------------------- the test's side
@pytest.fixture
def gateway_plugins() -> None:
    return None


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A database of its own for this run (a sibling of the test database), created fresh, migrated by
    ``gateway db upgrade`` (tables, the job engine's schema, the catalog), dropped afterwards."""
    base = make_url(os.environ[POSTGRES_ENV])
    name = f"{base.database}_worker_kill"
    admin = create_async_engine(base.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")

    async def drop() -> None:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    await drop()
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgraded = gateway_cli(url, "db", "upgrade")
        assert "job engine schema installed" in upgraded, upgraded
        yield url
    finally:
        await drop()
        await admin.dispose()


def gateway_cli(url: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(SCRIPT), *args], env=worker_env(url), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def worker_env(url: str, **extra: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key != HANG_ENV}
    return {**environment, "GATEWAY_DATABASE_URL": url, "GATEWAY_PLUGINS": PLUGINS, "GATEWAY_LOG_LEVEL": "WARNING",
            "GATEWAY_JOB_STALLED_SECONDS": "2", "GATEWAY_JOB_STALLED_SWEEP": "* * * * * */1", **extra}


def start_worker(url: str, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, str(SCRIPT), "worker"], env=worker_env(url, **extra),
                                stdout=output, stderr=subprocess.STDOUT)


def stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def wait_for(check: Any, seconds: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; the worker's output ends:\n"
                         + log.read_text(errors="replace")[-3000:])


async def test_a_renewal_worker_killed_after_the_processor_charged_charges_every_period_once(database: str, tmp_path: Path) -> None:
    from test_renewals_kit import LedgerProcessor, add_certificates, add_plain, every_product_world, moment

    from gateway.db import utcnow
    from gateway.jobs import request_job
    from gateway.runtime import Runtime
    from gateway.settings import load_settings
    from gateway.testing import clear_tables, run_job
    from plugins.certificates.models import CertificateInventory
    from schema import models
    from schema.catalog.pricing import add_period

    runtime = Runtime(load_settings(database_url=database, plugins=PLUGINS))
    workers: list[subprocess.Popen[bytes]] = []

    async def rows(sql: str, **params: Any) -> list[Any]:
        async with runtime.engine.connect() as connection:
            return list((await connection.execute(text(sql), params)).all())

    async def value(sql: str, **params: Any) -> Any:
        async with runtime.engine.connect() as connection:
            return await connection.scalar(text(sql), params)

    try:
        async with runtime.engine.begin() as connection:
            for statement in PROCESSOR_TABLES:
                await connection.execute(text(statement))
        await clear_tables(runtime)  # the world brings its own catalog
        world = await every_product_world(runtime)
        async with runtime.sessions() as session, session.begin():
            session.add(models.PaymentMethod(organization_id=world.organizations["unverified"], owner="CUSTOMER_CARD",
                                             processor_token=DECLINE, brand="VISA", last4="0002", exp_month=12,
                                             exp_year=2099))
        start = moment(-20)
        monthly_end = add_period(start, "MONTHLY")  # in ten days or so
        as_of = monthly_end + dt.timedelta(days=2)  # the job's clock: every period below has ended, the dunning
        # retry (a day after the first failure) is due, the next periods (a month, a year) have not ended
        assert monthly_end > utcnow() + dt.timedelta(days=5)

        # dunning: its renewal's first charge declined by an earlier sweep, the retry due long since
        dunning = await add_plain(runtime, world, "direct", "DESK_STANDARD", 1, start=start)
        declining = LedgerProcessor()
        declining.declining = True
        runtime.plugin_manager.register(declining, name="killtest-declining")
        try:
            assert (await run_job(runtime, "subscriptions.renew", now=monthly_end + dt.timedelta(hours=1)))[
                "past_due"] == 1
        finally:
            runtime.plugin_manager.unregister(name="killtest-declining")
        subs = {
            "dunning": dunning,
            "mail": await add_plain(runtime, world, "acme", "MAIL_STANDARD", 3, start=start,
                                    add_ons={"MAIL_EXTRA_STORAGE": 2}),                       # 16.00
            "desk": await add_plain(runtime, world, "acme", "DESK_STANDARD", 2, start=start),  # 24.00: killed here
            "vertical": await add_plain(runtime, world, "direct", "VERTICAL_STARTER", 1, start=start),  # 15.00
            "certificates": await add_certificates(runtime, world, "direct", {"DV": 2}, start=moment(-360)),
            "ending": await add_plain(runtime, world, "direct", "MAIL_STANDARD", 1, start=start, auto_renew=False),
            "declined": await add_plain(runtime, world, "unverified", "VERTICAL_STARTER", 1, start=start),
        }
        async with runtime.sessions() as session, session.begin():
            inventory = await session.scalar(select(CertificateInventory).where(
                CertificateInventory.subscription_id == subs["certificates"]))
            assert inventory is not None
            inventory.renewal = 2  # two certificates renew: the certificates' renewal charges something
            before = {row.id: (row.current_period_start, row.current_period_end) for row in
                      await session.scalars(select(models.Subscription))}
            request_job(session, "subscriptions.renew", as_of=as_of)  # the job row, written in this transaction
        # no period has ended yet, in real time (dunning's renewed period ends after the clock, too)
        assert all(utcnow() < before[pk][1] < as_of for k, pk in subs.items() if k != "dunning")
        assert as_of < before[subs["dunning"]][1]
        assert await value("SELECT args ->> '_as_of' FROM procrastinate_jobs WHERE task_name = "
                           "'subscriptions.renew'") == as_of.isoformat()

        # worker 1: charges the dunning retry (1), mail (2), then desk (3) at the processor, and hangs there
        first = start_worker(database, tmp_path / "first.log", **{HANG_ENV: "3"})
        workers.append(first)
        await wait_for(lambda: value("SELECT count(*) FROM killtest_processor_calls WHERE hung"), 40, "the hung charge",
                       tmp_path / "first.log")
        first.send_signal(signal.SIGKILL)
        first.wait()
        desk_key = await value("SELECT key FROM killtest_processor_calls WHERE hung")
        assert desk_key.startswith(f"renewal:{subs['desk']}:"), desk_key
        assert await value("SELECT status::text FROM procrastinate_jobs WHERE task_name = 'subscriptions.renew'") == "doing"
        # the processor holds desk's charge; our side rolled back: desk not renewed, no charge or payment row
        assert await value("SELECT current_period_end FROM subscriptions WHERE id = :i", i=subs["desk"]) == monthly_end
        assert await value("SELECT count(*) FROM renewal_charges WHERE subscription_id = :i", i=subs["desk"]) == 0
        assert [pk for (pk,) in await rows("SELECT subscription_id FROM renewal_charges WHERE status = 'PAID' "
                                           "ORDER BY subscription_id")] == [subs["dunning"], subs["mail"]]

        # worker 2: the stalled-jobs sweep puts the dead worker's job back; it runs again (attempt 2) and finishes
        second = start_worker(database, tmp_path / "second.log")
        workers.append(second)
        await wait_for(lambda: value("SELECT count(*) = 0 FROM procrastinate_jobs WHERE task_name = "
                                     "'subscriptions.renew' AND status <> 'succeeded'"), 40, "the retried job",
                       tmp_path / "second.log")
        await asyncio.sleep(1)  # a duplicate would show up now
        stop(second)

        # ---- the processor's ledger: every (subscription, period) charged exactly once
        charges = await rows("SELECT key, amount, reference, pid FROM killtest_processor_charges ORDER BY key")
        periods = Counter((key.split(":")[1], key.split(":")[2]) for key, *_ in charges)
        assert all(count == 1 for count in periods.values()), periods
        expected_periods = {(str(subs[k]), f"{before[subs[k]][1]:%Y%m%dT%H%M%SZ}")
                            for k in ("mail", "desk", "vertical", "certificates")}
        renewed_dunning = await value("SELECT period_start FROM renewal_charges WHERE subscription_id = :i",
                                      i=subs["dunning"])
        expected_periods.add((str(subs["dunning"]), f"{renewed_dunning:%Y%m%dT%H%M%SZ}"))
        assert set(periods) == expected_periods
        # every charge was made at the job's clock, by the killed worker and by the retry alike
        assert {pk: paid_at for pk, paid_at in await rows(
            "SELECT subscription_id, paid_at FROM renewal_charges WHERE status = 'PAID'")} == {
            subs[k]: as_of for k in ("dunning", "mail", "desk", "vertical", "certificates")}
        by_key = {key: (amount, reference, pid) for key, amount, reference, pid in charges}
        assert by_key[desk_key][2] == first.pid  # charged by the killed worker...
        calls = await rows("SELECT key, outcome, pid FROM killtest_processor_calls ORDER BY id")
        assert [(o, p) for k, o, p in calls if k == desk_key] == [("charged", first.pid), ("replayed", second.pid)]
        assert Counter(k for k, *_ in calls if k != desk_key) == Counter(
            {k: 1 for k in by_key if k != desk_key} | {k: 1 for k, o, _ in calls if o == "declined"})
        assert next(k for k in by_key if k.startswith(f"renewal:{subs['dunning']}:")).endswith(":2")  # the retry

        # ---- our ledger: one renewal charge per (subscription, period), each PAID one one payment of the
        # processor's charge (the same reference: ...and recorded once, by the retry)
        ledger = await rows("SELECT c.subscription_id, c.period_start, c.status, c.amount, c.attempts, "
                            "p.amount, p.processor_reference FROM renewal_charges c "
                            "LEFT JOIN payments p ON p.id = c.payment_id ORDER BY c.subscription_id")
        assert [(pk, status) for pk, _, status, *_ in ledger] == [
            (subs[k], "PAID") for k in ("dunning", "mail", "desk", "vertical", "certificates")] + [
            (subs["declined"], "PENDING")]
        for pk, period_start, status, amount, _, paid, reference in ledger:
            if status != "PAID":
                continue
            [key] = [k for k in by_key if k.startswith(f"renewal:{pk}:{period_start:%Y%m%dT%H%M%SZ}:")]
            assert (paid, reference) == (amount, by_key[key][1]) and by_key[key][0] == amount, pk
        amounts = {pk: amount for pk, _, status, amount, *_ in ledger}
        # attempts: the dunning retry is the 2nd; desk's killed attempt rolled back with its row, so its retry
        # asked again as attempt 1 (the same key: the processor answered its first charge)
        assert {pk: attempts for pk, _, _, _, attempts, *_ in ledger} == {
            subs[k]: 2 if k == "dunning" else 1 for k in ("dunning", "mail", "desk", "vertical", "certificates",
                                                          "declined")}
        assert (amounts[subs["mail"]], amounts[subs["desk"]], amounts[subs["vertical"]]) == (
            Decimal("16.0000"), Decimal("24.0000"), Decimal("15.0000"))
        assert amounts[subs["certificates"]] > 0
        assert await value("SELECT count(*) FROM payments") == len(charges)  # none lost, none twice

        # ---- the subscriptions: renewed once, recovered, expired once, past due; nothing twice
        states = dict(await rows("SELECT id, status FROM subscriptions"))
        assert {k: states[pk] for k, pk in subs.items()} == {
            "dunning": "ACTIVE", "mail": "ACTIVE", "desk": "ACTIVE", "vertical": "ACTIVE", "certificates": "ACTIVE",
            "ending": "EXPIRED", "declined": "PAST_DUE"}
        periods_now = dict((pk, (s, e)) for pk, s, e in await rows(
            "SELECT id, current_period_start, current_period_end FROM subscriptions"))
        for k in ("mail", "desk", "vertical"):
            assert periods_now[subs[k]] == (before[subs[k]][1], add_period(before[subs[k]][1], "MONTHLY")), k
        changes = Counter((pk, kind) for pk, kind in await rows("SELECT subscription_id, kind FROM subscription_changes"))
        assert changes == Counter({
            (subs["dunning"], "RENEWED"): 1, (subs["dunning"], "PAYMENT_FAILED"): 1,
            (subs["dunning"], "PAYMENT_RECOVERED"): 1, (subs["certificates"], "ADDED"): 1,  # its purchase
            **{(subs[k], "RENEWED"): 1 for k in ("mail", "desk", "vertical", "certificates", "declined")},
            (subs["ending"], "EXPIRED"): 1, (subs["declined"], "PAYMENT_FAILED"): 1})
        events = Counter((data["subscription_id"], kind) for kind, data in await rows(
            "SELECT type, data FROM events WHERE type IN ('subscription.renewed', 'subscription.expired')"))
        assert events == Counter({**{(subs[k], "subscription.renewed"): 1 for k in (
            "dunning", "mail", "desk", "vertical", "certificates", "declined")}, (subs["ending"], "subscription.expired"): 1})
        assert await value("SELECT count(*) FROM notifications WHERE subject LIKE 'Payment failed: %'") == 2
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        await runtime.dispose()


if __name__ == "__main__":
    sys.path.insert(0, str(SCRIPT.parent))
    from jobs_demo import main

    main(sys.argv[1:], extra_plugins=[("killtest_processor", KillableProcessor())])
