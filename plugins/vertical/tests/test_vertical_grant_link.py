"""The developer-access request mail's "Grant access" link, end to end: the mail goes over a real SMTP
server (aiosmtpd, port 18673), the test follows the link it received, confirms, and the access is granted."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from gateway.db import utcnow
from gateway.http import create_app
from gateway.jobs import run_job_once
from gateway.settings import load_settings
from plugins.vertical.models import DeveloperAccess
from plugins.vertical.services import grant_links
from plugins.vertical.tests.conftest import VerticalWorld
from schema.models import AuditEvent, OrganizationMember

PORT = 18673
ACCESS = """mutation($input: DeveloperAccessInput!) { %s(input: $input) {
  instance { developerAccess { status } } userErrors { code message } } }"""
STATUS = """query($id: ID!) { node(id: $id) { ... on SolutionInstance { developerAccess { status grantedAt } } } }"""
LINK = re.compile(r"https?://\S+" + re.escape(grant_links.PATH) + r"\?token=[A-Za-z0-9_-]+")


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def body(self, to: str) -> str:
        (message,) = [m for m in self.messages if m["To"] == to]
        payload = message.get_payload(decode=True)
        assert isinstance(payload, bytes)
        return payload.decode()


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=PORT)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


class WithSmtp:
    """The test runtime as the outbox job sees it with GATEWAY_SMTP_URL pointing at the test server."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime
        self.settings = load_settings(database_url=runtime.settings.database_url, smtp_url=f"smtp://127.0.0.1:{PORT}")
        self.notification_senders: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runtime, name)


async def page(runtime: Any, method: str, url: str, token: str | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        if method == "GET":
            return await client.get(url)
        return await client.post(url, data={"token": token or ""})


async def requested_mail(gql: Any, runtime: Any, vworld: VerticalWorld, inbox: Inbox) -> str:
    """The developer asks; the outbox job mails the super admin; the link in the mail that arrived."""
    acme = {"input": {"instanceId": vworld.instance_id("acme")}}
    data = (await gql(ACCESS % "requestDeveloperAccess", acme, token=vworld.tokens["developer"])).ok()
    assert data["requestDeveloperAccess"]["instance"]["developerAccess"]["status"] == "REQUESTED"
    assert (await run_job_once(WithSmtp(runtime), "outbox.deliver"))["sent"] >= 1
    body = inbox.body("boss@acme.example")
    links = LINK.findall(body)
    assert len(links) == 1 and "Grant access: " in body
    return str(links[0])


async def status(gql: Any, vworld: VerticalWorld) -> str:
    data = (await gql(STATUS, {"id": vworld.instance_id("acme")}, token=vworld.tokens["org_super_admin"])).ok()
    return str(data["node"]["developerAccess"]["status"])


async def test_the_link_in_the_mail_grants_access_after_confirmation(gql: Any, runtime: Any, vworld: VerticalWorld,
                                                                      inbox: Inbox) -> None:
    url = await requested_mail(gql, runtime, vworld, inbox)
    assert url.startswith(runtime.settings.public_url + grant_links.PATH)
    path, token = url.removeprefix(runtime.settings.public_url), url.split("token=", 1)[1]

    shown = await page(runtime, "GET", path)  # what a mail scanner or a preview also does
    assert shown.status_code == 200 and "Grant access</button>" in shown.text and "DevCo" in shown.text
    assert shown.headers["cache-control"] == "no-store" and shown.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in shown.headers["content-security-policy"]
    assert await status(gql, vworld) == "REQUESTED"  # GET changes nothing

    granted = await page(runtime, "POST", grant_links.PATH, token)
    assert granted.status_code == 200 and "Access granted" in granted.text
    assert await status(gql, vworld) == "GRANTED"
    async with runtime.sessions() as session:
        event = (await session.scalars(select(AuditEvent).where(
            AuditEvent.action == "solution_instance.grant_developer_access"))).one()
    assert (event.actor_user_id, event.organization_id) == (
        vworld.world.user_ids["org_super_admin"], vworld.world.organizations["acme"])
    # the developer is told, by mail too
    assert (await run_job_once(WithSmtp(runtime), "outbox.deliver"))["sent"] == 1
    assert "granted" in inbox.body("dev@devco.example")

    # single use: the same link again, GET or POST
    for method in ("GET", "POST"):
        again = await page(runtime, method, path if method == "GET" else grant_links.PATH, token)
        assert again.status_code == 410 and "already answered" in again.text, method


async def test_platform_staff_reading_the_outbox_never_see_the_token(gql: Any, runtime: Any, vworld: VerticalWorld,
                                                                     inbox: Inbox) -> None:
    url = await requested_mail(gql, runtime, vworld, inbox)
    token = url.split("token=", 1)[1]
    outbox = (await gql("""{ outbox(first: 5, status: SENT) { nodes { to body status attempts messageId } } }""",
                        token=vworld.tokens["platform_admin"])).ok()["outbox"]["nodes"]
    (mail,) = [m for m in outbox if m["to"] == "boss@acme.example"]
    assert token not in mail["body"] and "token=[hidden]" in mail["body"]
    assert (mail["status"], mail["attempts"]) == ("SENT", 1)
    assert mail["messageId"] == inbox.messages[0]["Message-ID"]


async def test_a_link_is_refused_when_forged_expired_stale_or_its_user_is_no_longer_super_admin(
        gql: Any, runtime: Any, vworld: VerticalWorld, inbox: Inbox) -> None:
    url = await requested_mail(gql, runtime, vworld, inbox)
    token = url.split("token=", 1)[1]
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[15] ^= 1  # another user id, same signature
    forged = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    for bad in (forged, "nonsense", token[:-2]):
        response = await page(runtime, "POST", grant_links.PATH, bad)
        assert response.status_code in (400, 410) and "not valid" in response.text
    async with runtime.sessions() as session:
        access = (await session.scalars(select(DeveloperAccess))).one()
        expired = grant_links.make_token(access, vworld.world.user_ids["org_super_admin"],
                                         utcnow() - grant_links.LINK_TTL - dt.timedelta(minutes=1))
    response = await page(runtime, "GET", f"{grant_links.PATH}?token={expired}")
    assert response.status_code == 410 and "expired" in response.text

    # the super admin became a plain admin since the mail: the link grants nothing
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(OrganizationMember).where(
            OrganizationMember.user_id == vworld.world.user_ids["org_super_admin"],
            OrganizationMember.organization_id == vworld.world.organizations["acme"]).values(role="ADMIN"))
    response = await page(runtime, "POST", grant_links.PATH, token)
    assert response.status_code == 403 and "not granted" in response.text
    async with runtime.sessions() as session, session.begin():
        await session.execute(update(OrganizationMember).where(
            OrganizationMember.user_id == vworld.world.user_ids["org_super_admin"],
            OrganizationMember.organization_id == vworld.world.organizations["acme"]).values(role="SUPER_ADMIN"))

    # refused in the console, then requested again: the first mail's link is stale, the new one works
    acme = {"input": {"instanceId": vworld.instance_id("acme")}}
    (await gql(ACCESS % "revokeDeveloperAccess", acme, token=vworld.tokens["org_super_admin"])).ok()
    assert (await page(runtime, "POST", grant_links.PATH, token)).status_code == 410
    inbox.messages.clear()
    fresh = (await requested_mail(gql, runtime, vworld, inbox)).split("token=", 1)[1]
    assert fresh != token and (await page(runtime, "POST", grant_links.PATH, token)).status_code == 410
    assert (await page(runtime, "POST", grant_links.PATH, fresh)).status_code == 200
    assert await status(gql, vworld) == "GRANTED"
