"""The "Grant access" link of the developer-access request mail: signed, bound, expiring, single use.

The request mail gives each super admin of the organization a link to a page the gateway serves
(``GET /vertical/developer-access/grant?token=…`` shows what would be granted; its form POSTs the
grant). The token is the credential of that one action, so it is:

- **signed**: HMAC-SHA256 over (access id, super admin's user id, expiry), keyed with a random
  secret the request stores on its access row (``DeveloperAccess.access_code`` while REQUESTED);
- **bound** to that request and that super admin: another request (a new key), another user or
  another instance does not match; the grant is made *as* that user, through the same
  authorization as ``grantDeveloperAccess`` (a user who is no longer the super admin is refused);
- **expiring** after :data:`LINK_TTL`;
- **single use**: granting, refusing (revoking) or requesting again replaces or clears the key,
  so every link of the request stops working.

Nothing about the token is stored besides the per-request key; it never appears in logs in
production (``gateway.outbox``) nor in the ``outbox`` query (masked there).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass

from gateway.sensitive import find_card_data
from plugins.vertical.models import DeveloperAccess

LINK_TTL = dt.timedelta(days=7)
PATH = "/vertical/developer-access/grant"
_LAYOUT = struct.Struct(">QQQ")  # access id, user id, expiry (unix seconds)
_MAC_BYTES = 32
_PURPOSE = b"vertical.developer_access.grant:"
# the token in any text (a mail body): masked where platform staff read the outbox
TOKEN_IN_TEXT = re.compile(re.escape(PATH) + r"\?token=[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class LinkClaim:
    access_id: int
    user_id: int
    expires_at: dt.datetime
    mac: bytes


def _mac(key: str, payload: bytes) -> bytes:
    return hmac.new(key.encode(), _PURPOSE + payload, hashlib.sha256).digest()


def make_token(access: DeveloperAccess, user_id: int, now: dt.datetime) -> str:
    """The token of ``user_id``'s link to grant ``access`` (which must be REQUESTED, with its key)."""
    assert access.status == "REQUESTED" and access.access_code, "a grant link is for a pending request"
    expires = int((now + LINK_TTL).timestamp())
    for shift in range(100):  # a token never looks like card data (the write guard would refuse the mail)
        payload = _LAYOUT.pack(access.id, user_id, expires - shift)
        token = base64.urlsafe_b64encode(payload + _mac(access.access_code, payload)).decode().rstrip("=")
        if find_card_data(token) is None:
            return token
    raise AssertionError("no clean grant token in 100 draws")


def link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{PATH}?token={token}"


def read_token(token: str) -> LinkClaim | None:
    """The claim a token makes (not yet checked against its request); None when it is not one."""
    if not token or len(token) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _LAYOUT.size + _MAC_BYTES:
        return None
    access_id, user_id, expires = _LAYOUT.unpack(raw[:_LAYOUT.size])
    return LinkClaim(access_id, user_id, dt.datetime.fromtimestamp(expires, dt.UTC), raw[_LAYOUT.size:])


def problem(claim: LinkClaim, access: DeveloperAccess | None, now: dt.datetime) -> str | None:
    """Why the link cannot grant ``access`` now (a sentence for the page), or None when it can."""
    if access is None or access.id != claim.access_id or not access.access_code:
        return "This link is not valid, or its request was already answered."
    payload = _LAYOUT.pack(claim.access_id, claim.user_id, int(claim.expires_at.timestamp()))
    if not hmac.compare_digest(_mac(access.access_code, payload), claim.mac):
        return "This link is not valid, or its request was already answered."
    if access.status != "REQUESTED":
        return "This request was already answered."
    if claim.expires_at <= now:
        return "This link has expired. Grant access in the console, or ask the developer to request it again."
    return None


def mask(text: str) -> str:
    """``text`` with every grant link's token replaced (for the outbox read by platform staff)."""
    return TOKEN_IN_TEXT.sub(PATH + "?token=[hidden]", text)
