"""The outbox delivered: job ``outbox.deliver`` sends due notifications over SMTP, with retries and a status.

A mutation puts its emails in the outbox (``Context.notify``: a ``notifications`` row, in its own
transaction) and asks for a run of ``outbox.deliver`` after the commit; the job also runs every
minute, so a lost request only delays a message. One run, message by message:

1. **claim** (own transaction): the oldest due PENDING row (``next_attempt_at <= now``) gets one more
   attempt and a lease (``next_attempt_at = now + lease``) in a single ``UPDATE … WHERE id = (SELECT …
   FOR UPDATE SKIP LOCKED) RETURNING``: two workers never claim the same row, and a row whose worker
   died becomes due again when its lease ends;
2. **send** through the transport (SMTP, the log, or the plugins' senders), outside any transaction;
3. **mark** (own transaction, right after the send): SENT with ``sent_at``; or, on a failure, due
   again after a backoff (1, 2, 4 … minutes, at most 6 hours); FAILED on a permanent refusal (an SMTP
   5xx reply to the message) or after ``GATEWAY_SMTP_MAX_ATTEMPTS`` attempts.

Delivery is at-least-once: a crash between 2 and 3 leaves the row PENDING with its lease, and it is
sent again once the lease ends, with the same ``Message-ID`` (fixed when the row was written) so a
receiver can drop the copy. A connection-level failure (the server unreachable, TLS, authentication)
ends the run after the claimed message: the others keep their attempts for the next run.

Transports: the plugins' ``gateway_notification_senders`` when any answers (they replace the
built-in one); else SMTP when ``GATEWAY_SMTP_URL`` is set; else, in development, the log (with the
body, so ``make run`` shows the links); in production without SMTP nothing is sent: messages wait,
PENDING, and each run logs a warning until the URL is set. Neither the password nor (in production)
a message body is ever logged: bodies hold links that act as credentials.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib
from sqlalchemy import func, select, update

from gateway.db import utcnow
from gateway.jobs import JobContext, JobDefinition, request_job
from gateway.models import Notification, new_message_id
from gateway.plugins import maybe_await
from gateway.sensitive import redact_message
from gateway.settings import Settings

log = logging.getLogger("gateway.outbox")

JOB_NAME = "outbox.deliver"
PENDING, SENT, FAILED = "PENDING", "SENT", "FAILED"
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_MAX = dt.timedelta(hours=6)
MIN_LEASE = dt.timedelta(minutes=10)
RUN_LIMIT = 500  # messages one run handles at most; the next run goes on
ERROR_LENGTH = 300

Sender = Callable[[Notification], Any]


class DeliveryRefused(Exception):
    """Raised by a transport (or a plugin's sender) when a message cannot be delivered.

    ``permanent``: retrying cannot help (the message is FAILED at once); ``connection``: the transport
    itself is down (the run stops; other messages keep their attempts).
    """

    def __init__(self, message: str, *, permanent: bool = False, connection: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.connection = connection


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt: 1, 2, 4, 8 … minutes, at most 6 hours."""
    return min(BACKOFF_BASE * (1 << min(max(attempts - 1, 0), 20)), BACKOFF_MAX)


def message_domain(sender: str) -> str:
    """The domain of the From address, for Message-IDs (``<random@domain>``)."""
    address = parseaddr(sender)[1]
    return address.rpartition("@")[2] or "partner-gateway.localhost"


def build_message(notification: Notification, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = notification.to
    message["Subject"] = notification.subject
    message["Message-ID"] = notification.message_id
    message["Date"] = format_datetime(notification.created_at)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to the gateway
    message["X-Gateway-Template"] = notification.template
    message.set_content(notification.body)
    return message


class Transport(Protocol):
    async def send(self, notification: Notification, message: EmailMessage) -> None: ...

    async def close(self) -> None: ...


class LogTransport:
    """Development without SMTP: each message is a log line (the body too, only when ``with_body``)."""

    def __init__(self, *, with_body: bool) -> None:
        self.with_body = with_body

    async def send(self, notification: Notification, message: EmailMessage) -> None:
        log.info("email (not sent: GATEWAY_SMTP_URL is not set) to=%s subject=%r template=%s message_id=%s",
                 notification.to, notification.subject, notification.template, notification.message_id)
        if self.with_body:
            log.info("email body of %s:\n%s", notification.message_id, notification.body)

    async def close(self) -> None:
        return None


class SenderTransport:
    """The plugins' ``gateway_notification_senders``, each called with the row; one raising fails the attempt."""

    def __init__(self, senders: Sequence[Sender]) -> None:
        self.senders = list(senders)

    async def send(self, notification: Notification, message: EmailMessage) -> None:
        for sender in self.senders:
            await maybe_await(sender(notification))

    async def close(self) -> None:
        return None


class SmtpTransport:
    """SMTP with aiosmtplib; one connection per run, opened at the first message, reopened after an error."""

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_url is not None
        parts = urlsplit(settings.smtp_url.get_secret_value())
        self.implicit_tls = parts.scheme == "smtps"
        self.hostname = parts.hostname or ""
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else ""
        self.starttls = settings.smtp_starttls
        self.timeout = settings.smtp_timeout
        self.tls_context = ssl.create_default_context(cafile=settings.smtp_ca_file) if settings.smtp_ca_file else None
        self.secrets = [secret for secret in (settings.smtp_url.get_secret_value(), parts.password, self.password)
                        if secret]
        self._client: aiosmtplib.SMTP | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        start_tls = None if self.starttls == "auto" else self.starttls == "always"
        client = aiosmtplib.SMTP(hostname=self.hostname, port=self.port, timeout=self.timeout,
                                 use_tls=self.implicit_tls, start_tls=False if self.implicit_tls else start_tls,
                                 tls_context=self.tls_context)
        await client.connect()
        if self.username is not None:
            encrypted = client.get_transport_info("sslcontext") is not None
            if not encrypted and self.starttls != "never" and not _is_loopback(self.hostname):
                await client.quit()
                raise DeliveryRefused("the SMTP server offers no STARTTLS: the password is not sent in clear "
                                      "(GATEWAY_SMTP_STARTTLS=never allows it)", connection=True)
            await client.login(self.username, self.password)
        return client

    async def send(self, notification: Notification, message: EmailMessage) -> None:
        stage = "connect"
        try:
            if self._client is None or not self._client.is_connected:
                self._client = await self._connect()
            stage = "send"
            await self._client.send_message(message)
        except DeliveryRefused:
            await self.close()
            raise
        except Exception as error:
            await self.close()  # a fresh session for the next message
            raise self._classify(error, stage) from None

    def _classify(self, error: Exception, stage: str) -> DeliveryRefused:
        text = self.describe(error)
        if stage == "send" and isinstance(error, aiosmtplib.SMTPRecipientsRefused):
            codes = [refused.code for refused in error.recipients]
            return DeliveryRefused(text, permanent=bool(codes) and all(code >= 500 for code in codes))
        if stage == "send" and isinstance(error, (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPRecipientRefused,
                                                  aiosmtplib.SMTPDataError)):
            return DeliveryRefused(text, permanent=error.code >= 500)
        return DeliveryRefused(text, connection=True)  # unreachable, TLS, authentication, timeouts, disconnects

    def describe(self, error: Exception) -> str:
        """``Type: message`` without the URL or the password, without card data, and short."""
        text = f"{type(error).__name__}: {error}".strip()
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return redact_message(" ".join(text.split()))[:ERROR_LENGTH]

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except Exception:  # the server went away: drop the connection
                client.close()


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def transport_for(runtime: Any) -> Transport | None:
    """The transport of this gateway (see the module's docstring); None: production without SMTP."""
    settings: Settings = runtime.settings
    senders: list[Sender] = list(getattr(runtime, "notification_senders", []))
    if senders:
        return SenderTransport(senders)
    if settings.smtp_url is not None:
        return SmtpTransport(settings)
    if not settings.is_production:
        return LogTransport(with_body=True)
    return None


# ---------------------------------------------------------------- the queue
async def _claim(runtime: Any, now: dt.datetime, lease: dt.timedelta) -> Notification | None:
    due = (select(Notification.id)
           .where(Notification.status == PENDING, Notification.next_attempt_at <= now)
           .order_by(Notification.next_attempt_at, Notification.id).limit(1)
           .with_for_update(skip_locked=True).scalar_subquery())
    claim = (update(Notification).where(Notification.id == due, Notification.status == PENDING)
             .values(attempts=Notification.attempts + 1, next_attempt_at=now + lease)
             .returning(Notification).execution_options(synchronize_session=False))
    async with runtime.sessions() as session, session.begin():
        row: Notification | None = (await session.scalars(claim)).one_or_none()
        return row


async def _mark(runtime: Any, notification_id: int, **values: Any) -> None:
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(Notification)
                              .where(Notification.id == notification_id, Notification.status == PENDING)
                              .values(**values).execution_options(synchronize_session=False))


async def deliver_due(runtime: Any, *, now: dt.datetime | None = None, limit: int = RUN_LIMIT) -> dict[str, int]:
    """Send every due PENDING message (at most ``limit``); returns counts: sent, retried, failed, waiting."""
    now = now or utcnow()
    settings: Settings = runtime.settings
    transport = transport_for(runtime)
    if transport is None:
        waiting = await count_due(runtime, now)
        if waiting:
            log.warning("%d email(s) wait in the outbox: GATEWAY_SMTP_URL is not set (GATEWAY_ENV=production "
                        "logs no email); set it and they are sent", waiting)
        return {"waiting": waiting}
    lease = max(MIN_LEASE, dt.timedelta(seconds=settings.smtp_timeout * 10))
    counts = {"sent": 0, "retried": 0, "failed": 0}
    try:
        for _ in range(limit):
            row = await _claim(runtime, now, lease)
            if row is None:
                break
            try:
                await transport.send(row, build_message(row, settings.smtp_sender))
            except Exception as error:
                refused = error if isinstance(error, DeliveryRefused) else DeliveryRefused(
                    redact_message(f"{type(error).__name__}: {error}")[:ERROR_LENGTH])
                outcome = await _record_failure(runtime, row, now, refused, settings.smtp_max_attempts)
                counts[outcome] += 1
                log.warning("email %s to %s: attempt %d %s: %s", row.message_id, row.to, row.attempts,
                            "failed for good" if outcome == "failed" else "failed, retried later", refused)
                if refused.connection:
                    break
                continue
            await _mark(runtime, row.id, status=SENT, sent_at=now, last_error=None)
            counts["sent"] += 1
            log.info("email %s sent to %s (template %s, attempt %d)", row.message_id, row.to, row.template,
                     row.attempts)
    finally:
        await transport.close()
    return counts


async def _record_failure(runtime: Any, row: Notification, now: dt.datetime, error: DeliveryRefused,
                          max_attempts: int) -> str:
    text = str(error)[:ERROR_LENGTH] or type(error).__name__
    if error.permanent or row.attempts >= max_attempts:
        await _mark(runtime, row.id, status=FAILED, last_error=text)
        return "failed"
    await _mark(runtime, row.id, next_attempt_at=now + backoff(row.attempts), last_error=text)
    return "retried"


async def count_due(runtime: Any, now: dt.datetime) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Notification).where(
            Notification.status == PENDING, Notification.next_attempt_at <= now)) or 0)


async def retry_failed(runtime: Any, ids: Sequence[int] | None = None, *, now: dt.datetime | None = None) -> int:
    """Put FAILED messages (these ``ids``, or all) back in the queue, due now with fresh attempts; returns how many."""
    stmt = update(Notification).where(Notification.status == FAILED)
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(list(ids)))
    async with runtime.sessions() as session, session.begin():
        result = await session.execute(stmt.values(status=PENDING, attempts=0, next_attempt_at=now or utcnow())
                                       .execution_options(synchronize_session=False))
        return int(getattr(result, "rowcount", 0) or 0)


async def run_outbox_job(job: JobContext) -> Mapping[str, int]:
    return await deliver_due(job.runtime, now=job.now)


OUTBOX_JOB = JobDefinition(
    name=JOB_NAME, run=run_outbox_job, schedule="* * * * *",
    description="send the due emails of the outbox (SMTP), retrying with backoff",
)


def enqueue(session: Any, settings: Settings, *, to: str, subject: str, template: str, body: str) -> Notification:
    """Put an email in the outbox in ``session``'s transaction and request ``outbox.deliver`` after its commit.

    For code without a request context (job bodies); a mutation calls ``ctx.notify``, which is this.
    """
    notification = Notification(to=to, subject=subject, template=template, body=body,
                                message_id=outbox_message_id(settings))
    session.add(notification)
    request_job(session, JOB_NAME)
    return notification


def outbox_message_id(settings: Settings) -> str:
    """A Message-ID for a new outbox row, in the domain of ``GATEWAY_SMTP_SENDER``."""
    return new_message_id(message_domain(settings.smtp_sender))
