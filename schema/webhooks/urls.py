"""Endpoint URLs and the server-side request forgery rule.

A webhook URL is chosen by a partner and fetched by the gateway, from inside its network: a URL that
points at a private, loopback, link-local, multicast or reserved address (the cloud metadata service
at 169.254.169.254, the database, the admin port of a neighbour) would let a partner make the gateway
call it. So an endpoint's host is resolved when the URL is set and every address it resolves to must be
global; and again at each delivery, where the connection goes to the very address that was checked
(:class:`CheckedBackend`), so a name that resolves to a public address when set and to 127.0.0.1 later
(DNS rebinding) is refused then too. ``GATEWAY_WEBHOOK_ALLOW_PRIVATE=1`` lifts the rule (and allows
http) for tests and development.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from urllib.parse import urlsplit

import httpcore

from gateway.errors import DomainError

MAX_URL_LENGTH = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(Exception):
    """The host of a webhook URL resolves to an address the gateway does not call."""


def refused_address(address: IPAddress) -> str | None:
    """Why the gateway does not call ``address`` (None: it is a global unicast address)."""
    if isinstance(address, ipaddress.IPv6Address):  # an IPv4 address carried in IPv6 is judged as itself
        embedded = address.ipv4_mapped or address.sixtofour  # ::ffff:a.b.c.d; 2002:AABB:CCDD::/48 (6to4)
        if embedded is not None:
            address = embedded
    for test, reason in ((address.is_loopback, "loopback"), (address.is_link_local, "link-local"),
                         (address.is_multicast, "multicast"), (address.is_unspecified, "unspecified"),
                         (address.is_private, "private"), (address.is_reserved, "reserved")):
        if test:
            return reason
    return None if address.is_global else "not global"


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal is itself); BlockedAddress when it resolves to none."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise BlockedAddress(f"the host {host!r} does not resolve ({error})") from None
    found = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos))
    if not found:
        raise BlockedAddress(f"the host {host!r} does not resolve")
    return found


async def checked_addresses(host: str, port: int, *, allow_private: bool) -> list[IPAddress]:
    """The addresses of ``host``, every one of them allowed; BlockedAddress names the first refused."""
    addresses = await resolve(host, port)
    if not allow_private:
        for address in addresses:
            reason = refused_address(address)
            if reason is not None:
                raise BlockedAddress(f"the host {host!r} resolves to a {reason} address ({address})")
    return addresses


async def check_url(url: str, *, allow_private: bool) -> str:
    """The URL, stripped, if the gateway may deliver to it; DomainError on ``url`` otherwise.

    Codes: INVALID_URL (not an absolute https URL, credentials in it, too long), PRIVATE_ADDRESS
    (the host is or resolves to a private, loopback, link-local, multicast or reserved address, or
    does not resolve)."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise DomainError("INVALID_URL", f"The URL is longer than {MAX_URL_LENGTH} characters.", "url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DomainError("INVALID_URL", "The URL is not valid.", "url") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise DomainError("INVALID_URL", "The URL must be an absolute https:// URL with a host name.", "url")
    if parts.username is not None or parts.password is not None:
        raise DomainError("INVALID_URL", "The URL must not carry a user name or password.", "url")
    if parts.fragment:
        raise DomainError("INVALID_URL", "The URL must not have a #fragment.", "url")
    try:
        await checked_addresses(parts.hostname, port or (443 if parts.scheme == "https" else 80),
                                allow_private=allow_private)
    except BlockedAddress as error:
        raise DomainError("PRIVATE_ADDRESS", f"The gateway does not deliver there: {error}. Use a public "
                                             "https URL.", "url") from None
    return url


class CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend that resolves the host itself, checks the addresses and connects to the
    checked one; TLS still verifies the certificate for the URL's host name (httpcore passes it as SNI)."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.backend = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await checked_addresses(host, port, allow_private=self.allow_private)
        except BlockedAddress as error:
            raise httpcore.ConnectError(str(error)) from None
        return await self.backend.connect_tcp(str(addresses[0]), port, timeout=timeout, local_address=local_address,
                                              socket_options=socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are not delivered to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.backend.sleep(seconds)
