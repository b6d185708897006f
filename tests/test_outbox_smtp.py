"""The outbox delivered over SMTP (gateway.outbox): a real SMTP server in-process (aiosmtpd) records what arrives.

Ports 18670-18679. The job runs through ``run_job`` with a test clock, so backoff is checked by moving it.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select, text

from gateway import outbox
from gateway.auth import Viewer
from gateway.job_requests import register_runner, unregister_runner
from gateway.models import Notification
from gateway.settings import Settings, load_settings
from gateway.testing import run_job

PLAIN, TLS_AUTH, SMTPS, NOBODY = 18670, 18671, 18672, 18679
PASSWORD = "s3cret-pw/with:chars"
QUOTED = quote(PASSWORD, safe="")  # as it is written in GATEWAY_SMTP_URL
T0 = dt.datetime(2030, 1, 6, 9, 0, tzinfo=dt.UTC)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message
    authenticated: bool
    tls: bool


@dataclass
class Recorder:
    """An aiosmtpd handler: records each message; answers the queued refusals first (RCPT or DATA)."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: list[str] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content),
                                      bool(session.authenticated),
                                      server.transport.get_extra_info("ssl_object") is not None))
        return "250 Message accepted for delivery"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"gateway" and data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp() -> Iterator[Recorder]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=PLAIN)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 (cryptography), as (cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("smtp-tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certificate[0]), str(certificate[1]))
    return context


class Gateway:
    """The test runtime seen with other settings (the shared runtime's are fixed): what the job reads."""

    def __init__(self, runtime: Any, senders: list[Any] | None = None, **settings: Any) -> None:
        self._runtime = runtime
        self.settings: Settings = load_settings(database_url=runtime.settings.database_url, **settings)
        self.notification_senders = senders or []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime, name)


def smtp_gateway(runtime: Any, port: int = PLAIN, **settings: Any) -> Gateway:
    settings.setdefault("smtp_url", f"smtp://127.0.0.1:{port}")
    settings.setdefault("smtp_sender", "Partner Gateway <no-reply@gateway.example>")
    settings.setdefault("smtp_timeout", 5)
    return Gateway(runtime, **settings)


async def queue(runtime: Any, *messages: tuple[str, str], fail: bool = False) -> None:
    """Mails written by ``ctx.notify`` in one transaction (rolled back when ``fail``)."""
    async with runtime.context(viewer=Viewer()) as ctx:
        try:
            async with ctx.transaction():
                for to, subject in messages:
                    ctx.notify(to=to, subject=subject, template="test.mail", body=f"Hello {to}.\nSecond line.")
                if fail:
                    raise RuntimeError("the mutation failed")
        except RuntimeError:
            pass


async def rows(runtime: Any) -> list[Notification]:
    async with runtime.sessions() as session:
        return list((await session.scalars(select(Notification).order_by(Notification.id))).all())


async def deliver(gateway: Any, at: dt.datetime) -> dict[str, int]:
    return await run_job(gateway, "outbox.deliver", now=at)


async def test_mail_arrives_with_its_headers_and_is_sent_once(runtime: Any, smtp: Recorder) -> None:
    await queue(runtime, ("boss@acme.example", "Access requested"), ("dev@devco.example", "Access granted"))
    queued = await rows(runtime)
    assert [(r.status, r.attempts, r.sent_at) for r in queued] == [("PENDING", 0, None)] * 2
    assert all(r.message_id.startswith("<") and r.message_id.endswith("@partner-gateway.localhost>") for r in queued)

    gateway = smtp_gateway(runtime)
    assert await deliver(gateway, T0 + dt.timedelta(days=3650)) == {"sent": 2, "retried": 0, "failed": 0}
    assert [(m.mail_from, m.rcpt_tos) for m in smtp.received] == [
        ("no-reply@gateway.example", ["boss@acme.example"]), ("no-reply@gateway.example", ["dev@devco.example"])]
    first = smtp.received[0].message
    assert first["From"] == "Partner Gateway <no-reply@gateway.example>"
    assert first["To"] == "boss@acme.example" and first["Subject"] == "Access requested"
    assert first["Message-ID"] == queued[0].message_id
    payload = first.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert payload.decode().replace("\r\n", "\n").strip() == "Hello boss@acme.example.\nSecond line."
    sent = await rows(runtime)
    assert [(r.status, r.attempts, r.last_error) for r in sent] == [("SENT", 1, None)] * 2
    assert all(r.sent_at is not None for r in sent)
    # the next run finds nothing due: a message is sent once
    assert await deliver(gateway, T0 + dt.timedelta(days=3651)) == {"sent": 0, "retried": 0, "failed": 0}
    assert len(smtp.received) == 2


async def test_message_id_is_in_the_sender_domain(runtime: Any) -> None:
    async with runtime.context(viewer=Viewer()) as ctx:
        ctx.runtime = Gateway(runtime, smtp_sender="Ops <ops@mail.example.org>")
        async with ctx.transaction():
            ctx.notify(to="a@b.example", subject="s", template="t", body="b")
    assert (await rows(runtime))[0].message_id.endswith("@mail.example.org>")


async def queued_jobs(runtime: Any) -> list[tuple[str, dict[str, Any]]] | None:
    """The job rows waiting in the engine's queue, where its schema is installed in this database (PostgreSQL,
    after a test of the engine installed it): there a request is a row written in the transaction, not a nudge."""
    if runtime.engine.dialect.name != "postgresql":
        return None
    async with runtime.engine.connect() as connection:
        if not await connection.scalar(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")):
            return None
        found = (await connection.execute(text(
            "SELECT task_name, args FROM procrastinate_jobs WHERE status = 'todo' ORDER BY id"))).all()
    return [(name, {k: v for k, v in dict(args).items() if not k.startswith("_")}) for name, args in found]


async def test_a_rolled_back_mutation_sends_nothing(runtime: Any, smtp: Recorder) -> None:
    if await queued_jobs(runtime) is not None:  # an identical request already waiting would absorb ours
        async with runtime.engine.begin() as connection:
            await connection.execute(text("DELETE FROM procrastinate_jobs"))
    nudged: list[tuple[str, dict[str, Any]]] = []
    register_runner(runtime.engine.sync_engine, lambda name, args: nudged.append((name, args)))

    async def requested() -> list[tuple[str, dict[str, Any]]]:
        return nudged + (await queued_jobs(runtime) or [])

    try:
        await queue(runtime, ("boss@acme.example", "never"), fail=True)
        assert await rows(runtime) == [] and await requested() == []
        assert await deliver(smtp_gateway(runtime), T0) == {"sent": 0, "retried": 0, "failed": 0}
        assert smtp.received == []
        await queue(runtime, ("boss@acme.example", "committed"))
        assert await requested() == [("outbox.deliver", {})]  # ctx.notify asked for the job with the commit
    finally:
        unregister_runner(runtime.engine.sync_engine)


async def test_refusals_are_retried_with_backoff_then_sent(runtime: Any, smtp: Recorder) -> None:
    await queue(runtime, ("a@x.example", "A"), ("b@x.example", "B"))
    created = max(r.created_at for r in await rows(runtime))
    gateway, start = smtp_gateway(runtime), created + dt.timedelta(seconds=1)
    smtp.data_replies = ["451 4.3.0 Try again later"] * 3

    assert await deliver(gateway, start) == {"sent": 0, "retried": 2, "failed": 0}
    a, b = await rows(runtime)
    assert (a.status, a.attempts, a.next_attempt_at) == ("PENDING", 1, start + dt.timedelta(minutes=1))
    assert a.last_error is not None and "451" in a.last_error and "Try again later" in a.last_error
    # not due before the backoff ends
    assert await deliver(gateway, start + dt.timedelta(seconds=59)) == {"sent": 0, "retried": 0, "failed": 0}

    second = start + dt.timedelta(minutes=1)
    assert await deliver(gateway, second) == {"sent": 1, "retried": 1, "failed": 0}
    a, b = await rows(runtime)
    assert (a.status, a.attempts, a.next_attempt_at) == ("PENDING", 2, second + dt.timedelta(minutes=2))
    assert (b.status, b.attempts, b.last_error) == ("SENT", 2, None)
    assert await deliver(gateway, second + dt.timedelta(minutes=2)) == {"sent": 1, "retried": 0, "failed": 0}
    assert [m.message["Subject"] for m in smtp.received] == ["B", "A"]  # each exactly once
    assert [(r.status, r.attempts) for r in await rows(runtime)] == [("SENT", 3), ("SENT", 2)]
    assert outbox.backoff(1) == dt.timedelta(minutes=1) and outbox.backoff(30) == dt.timedelta(hours=6)


async def test_permanent_refusal_fails_at_once_and_the_operator_retries(runtime: Any, smtp: Recorder) -> None:
    await queue(runtime, ("nobody@x.example", "bounce"), ("ok@x.example", "fine"))
    gateway = smtp_gateway(runtime)
    smtp.rcpt_replies = ["550 5.1.1 No such user"]
    assert await deliver(gateway, T0 + dt.timedelta(days=3650)) == {"sent": 1, "retried": 0, "failed": 1}
    bounced, fine = await rows(runtime)
    assert (bounced.status, bounced.attempts, fine.status) == ("FAILED", 1, "SENT")
    assert bounced.last_error is not None and "550" in bounced.last_error
    # the operator fixed the cause: gateway outbox retry ID puts it back, due now
    assert await outbox.retry_failed(runtime, [bounced.id], now=T0 + dt.timedelta(days=3650)) == 1
    assert await deliver(gateway, T0 + dt.timedelta(days=3650)) == {"sent": 1, "retried": 0, "failed": 0}
    assert [(r.status, r.attempts) for r in await rows(runtime)] == [("SENT", 1), ("SENT", 1)]
    assert [m.message["Subject"] for m in smtp.received] == ["fine", "bounce"]


async def test_failed_after_the_last_attempt(runtime: Any, smtp: Recorder) -> None:
    await queue(runtime, ("a@x.example", "A"))
    gateway = smtp_gateway(runtime, smtp_max_attempts=2)
    smtp.data_replies = ["421 4.7.0 Busy"] * 5
    clock = T0 + dt.timedelta(days=3650)
    assert (await deliver(gateway, clock))["retried"] == 1
    assert (await deliver(gateway, clock + outbox.backoff(1)))["failed"] == 1
    (row,) = await rows(runtime)
    assert (row.status, row.attempts) == ("FAILED", 2) and "421" in (row.last_error or "")
    assert await deliver(gateway, clock + dt.timedelta(days=1)) == {"sent": 0, "retried": 0, "failed": 0}


async def test_server_down_stops_the_run_and_hides_the_password(runtime: Any,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    await queue(runtime, ("a@x.example", "A"), ("b@x.example", "B"))
    gateway = smtp_gateway(runtime, smtp_url=f"smtp://gateway:{QUOTED}@127.0.0.1:{NOBODY}")
    with caplog.at_level(logging.DEBUG):
        assert await deliver(gateway, T0 + dt.timedelta(days=3650)) == {"sent": 0, "retried": 1, "failed": 0}
    a, b = await rows(runtime)
    assert (a.attempts, b.attempts) == (1, 0)  # the run stopped: B keeps its attempts for the next run
    assert a.last_error is not None and "SMTPConnect" in a.last_error
    assert PASSWORD not in a.last_error and PASSWORD not in caplog.text and QUOTED not in caplog.text
    assert PASSWORD not in repr(gateway.settings) and PASSWORD not in str(gateway.settings.model_dump())


async def test_crash_between_send_and_mark_sends_again_with_the_same_message_id(
        runtime: Any, smtp: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    """At-least-once: the send happened, the SENT mark did not; after the lease the message goes again."""
    await queue(runtime, ("a@x.example", "A"))
    gateway, clock = smtp_gateway(runtime), T0 + dt.timedelta(days=3650)
    real_mark = outbox._mark

    async def crash(runtime: Any, notification_id: int, **values: Any) -> None:
        if values.get("status") == "SENT":
            raise ConnectionError("the worker died")
        await real_mark(runtime, notification_id, **values)

    monkeypatch.setattr(outbox, "_mark", crash)
    with pytest.raises(ConnectionError):
        await deliver(gateway, clock)
    monkeypatch.setattr(outbox, "_mark", real_mark)
    (row,) = await rows(runtime)
    assert (row.status, row.attempts, len(smtp.received)) == ("PENDING", 1, 1)
    assert await deliver(gateway, clock + dt.timedelta(minutes=5)) == {"sent": 0, "retried": 0, "failed": 0}
    assert await deliver(gateway, clock + outbox.MIN_LEASE) == {"sent": 1, "retried": 0, "failed": 0}
    assert [m.message["Message-ID"] for m in smtp.received] == [row.message_id] * 2  # the receiver can dedupe


async def test_without_smtp_development_logs_and_production_waits(runtime: Any,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    await queue(runtime, ("a@x.example", "Reset"))
    clock = T0 + dt.timedelta(days=3650)
    production = Gateway(runtime, env="production")
    with caplog.at_level(logging.INFO, logger="gateway.outbox"):
        assert await deliver(production, clock) == {"waiting": 1}
    assert "GATEWAY_SMTP_URL is not set" in caplog.text and "Hello a@x.example" not in caplog.text
    assert [(r.status, r.attempts) for r in await rows(runtime)] == [("PENDING", 0)]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gateway.outbox"):
        assert await deliver(Gateway(runtime), clock) == {"sent": 1, "retried": 0, "failed": 0}
    assert "Hello a@x.example" in caplog.text  # development: the body (and its links) in the log
    assert [r.status for r in await rows(runtime)] == ["SENT"]


async def test_plugin_senders_replace_the_transport_and_are_retried(runtime: Any) -> None:
    await queue(runtime, ("a@x.example", "A"))
    calls: list[str] = []

    def flaky(notification: Notification) -> None:
        calls.append(notification.subject)
        if len(calls) == 1:
            raise RuntimeError("the provider said no")

    gateway, clock = Gateway(runtime, senders=[flaky], smtp_url="smtp://127.0.0.1:1"), T0 + dt.timedelta(days=3650)
    assert await deliver(gateway, clock) == {"sent": 0, "retried": 1, "failed": 0}
    assert "the provider said no" in ((await rows(runtime))[0].last_error or "")
    assert await deliver(gateway, clock + outbox.backoff(1)) == {"sent": 1, "retried": 0, "failed": 0}
    assert calls == ["A", "A"]


# ---------------------------------------------------------------- TLS and authentication
async def test_starttls_and_authentication(runtime: Any, certificate: tuple[Path, Path]) -> None:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=TLS_AUTH, server_hostname="localhost",
                            tls_context=server_tls(certificate), require_starttls=True, auth_required=True,
                            authenticator=authenticator)
    controller.start()
    try:
        await queue(runtime, ("a@x.example", "over TLS"))
        url = f"smtp://gateway:{QUOTED}@localhost:{TLS_AUTH}"
        clock = T0 + dt.timedelta(days=3650)
        wrong = smtp_gateway(runtime, smtp_url=url.replace("s3cret", "wrong"), smtp_starttls="always",
                             smtp_ca_file=str(certificate[0]))
        assert await deliver(wrong, clock) == {"sent": 0, "retried": 1, "failed": 0}
        (row,) = await rows(runtime)
        assert row.last_error is not None and "SMTPAuthenticationError" in row.last_error
        assert "wrong" not in row.last_error and "s3cret" not in row.last_error
        for mode in ("always", "auto"):
            gateway = smtp_gateway(runtime, smtp_url=url, smtp_starttls=mode, smtp_ca_file=str(certificate[0]))
            await queue(runtime, ("b@x.example", f"mode {mode}"))
            assert (await deliver(gateway, clock + dt.timedelta(hours=1)))["sent"] >= 1
        assert sorted((m.message["Subject"], m.authenticated, m.tls) for m in recorder.received) == [
            ("mode always", True, True), ("mode auto", True, True), ("over TLS", True, True)]
        # without the CA the certificate is refused: nothing sent
        await queue(runtime, ("c@x.example", "untrusted"))
        untrusted = smtp_gateway(runtime, smtp_url=url, smtp_starttls="always")
        assert await deliver(untrusted, clock + dt.timedelta(hours=2)) == {"sent": 0, "retried": 1, "failed": 0}
        assert "certificate" in ((await rows(runtime))[-1].last_error or "").lower()
    finally:
        controller.stop()


async def test_no_password_in_clear_to_a_server_without_starttls(runtime: Any, smtp: Recorder,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "_is_loopback", lambda hostname: False)  # as if the relay were remote
    await queue(runtime, ("a@x.example", "A"))
    gateway = smtp_gateway(runtime, smtp_url=f"smtp://gateway:{QUOTED}@127.0.0.1:{PLAIN}")
    assert await deliver(gateway, T0 + dt.timedelta(days=3650)) == {"sent": 0, "retried": 1, "failed": 0}
    assert "offers no STARTTLS" in ((await rows(runtime))[0].last_error or "") and smtp.received == []


async def test_smtps_implicit_tls(runtime: Any, certificate: tuple[Path, Path]) -> None:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=SMTPS, server_hostname="localhost",
                            ssl_context=server_tls(certificate))
    controller.start()
    try:
        await queue(runtime, ("a@x.example", "implicit"))
        gateway = smtp_gateway(runtime, smtp_url=f"smtps://localhost:{SMTPS}", smtp_ca_file=str(certificate[0]))
        assert await deliver(gateway, T0 + dt.timedelta(days=3650)) == {"sent": 1, "retried": 0, "failed": 0}
        assert [(m.message["Subject"], m.tls) for m in recorder.received] == [("implicit", True)]
    finally:
        controller.stop()


def test_smtp_settings_are_validated_without_quoting_the_password() -> None:
    from gateway.settings import SettingsError

    for bad in (f"http://u:{PASSWORD}@host", f"smtp://u:{PASSWORD}@host:port", f"smtp://u:{PASSWORD}@"):
        with pytest.raises(SettingsError) as error:
            load_settings(smtp_url=bad)
        assert "GATEWAY_SMTP_URL" in str(error.value) and PASSWORD not in str(error.value)
    with pytest.raises(SettingsError, match="GATEWAY_SMTP_SENDER"):
        load_settings(smtp_sender="not an address")
    assert load_settings(smtp_url="").smtp_url is None
