"""``/vertical/developer-access/grant?token=…``: the page behind the request mail's "Grant access" link.

GET shows what would be granted, to whom, and a button; it changes nothing (mail scanners and
link previews open links). The button POSTs the token back; the grant is then made as the super
admin the link belongs to, through the same authorization, audit and event as
``grantDeveloperAccess``, the link checked again inside that transaction (see
``services/grant_links.py`` for the token). Pages are never cached, never framed, and send no
referrer (the token is in the URL).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.auth import Viewer
from gateway.db import utcnow
from gateway.errors import GatewayError
from gateway.models import User
from plugins.vertical.models import DeveloperAccess, Solution, SolutionInstance
from plugins.vertical.mutations import grant_by_link
from plugins.vertical.services import grant_links
from schema.models import Organization, Partner

if TYPE_CHECKING:
    from gateway.runtime import Runtime

HEADERS = {
    "Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=robots content=noindex>"
            f"<title>{escape(title)}</title><style>body{{font:16px system-ui,sans-serif;max-width:36em;"
            f"margin:3em auto;padding:0 1em}}button{{font-size:1em;padding:.5em 1.2em}}</style></head>"
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _refused(reason: str, status: int = 410) -> HTMLResponse:
    return _page("Link not usable", f"<p>{escape(reason)}</p>", status)


async def _describe(runtime: Runtime, claim: grant_links.LinkClaim) -> tuple[DeveloperAccess | None, str]:
    """The request the claim names, and a sentence saying what granting it means."""
    async with runtime.sessions() as session:
        access = await session.get(DeveloperAccess, claim.access_id)
        if access is None:
            return None, ""
        row = (await session.execute(
            select(Solution.name, Organization.domain, Partner.name)
            .join(SolutionInstance, SolutionInstance.solution_id == Solution.id)
            .join(Organization, Organization.id == SolutionInstance.organization_id)
            .join(Partner, Partner.id == Solution.developer_partner_id)
            .where(SolutionInstance.id == access.instance_id))).one()
        requester = await session.get(User, access.requested_by_user_id) if access.requested_by_user_id else None
        admin = await session.get(User, claim.user_id)
    solution, domain, developer = row
    who = f"{requester.name} ({requester.email}) of {developer}" if requester else developer
    text = (f"{who} asks for admin access to {solution} of {domain}. You are signing as "
            f"{admin.email if admin else 'a user who no longer exists'}; the grant is recorded in the "
            f"organization's audit log. You can revoke it at any time.")
    return access, text


async def grant_page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    if request.method == "GET":
        token = request.query_params.get("token", "")
    else:
        body = await request.body()  # a urlencoded form of one field (no multipart parser needed)
        token = parse_qs(body[:4096].decode("latin-1")).get("token", [""])[0]
    claim = grant_links.read_token(token)
    if claim is None:
        return _refused("This link is not valid. Copy the whole link from the mail.", 400)
    access, text = await _describe(runtime, claim)
    reason = grant_links.problem(claim, access, utcnow())
    if reason is not None or access is None:
        return _refused(reason or "This link is not valid.")
    if request.method == "GET":
        form = (f'<form method=post action="{escape(grant_links.PATH)}">'
                f'<input type=hidden name=token value="{escape(token)}">'
                f"<button type=submit>Grant access</button></form>"
                f"<p>Not expected? Ignore this page: nothing changes until you press the button.</p>")
        return _page("Grant developer access?", f"<p>{escape(text)}</p>{form}")
    async with runtime.sessions() as session:
        user = await session.get(User, claim.user_id)
        roles = await runtime.memberships(session, claim.user_id) if user is not None else {}
    if user is None:
        return _refused("The user this link was sent to no longer exists.")
    viewer = Viewer(user_id=user.id, email=user.email, name=user.name, platform_role=user.platform_role, roles=roles)
    try:
        async with runtime.context(viewer=viewer, request=request) as ctx:
            payload = await grant_by_link(ctx, claim, access.instance_id)
    except GatewayError as error:  # no longer the organization's super admin, ...
        return _refused(f"Access was not granted: {error}", 403)
    if payload.user_errors:
        return _refused(payload.user_errors[0].message)
    return _page("Access granted", f"<p>{escape(text)}</p><p>The developer has been told by mail.</p>")


ROUTES = [Route(grant_links.PATH, grant_page, methods=["GET", "POST"])]
