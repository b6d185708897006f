"""Webhook delivery against hostile addresses: IPv6 forms that carry an IPv4 address are judged by that address."""

from __future__ import annotations

import ipaddress

import pytest

from schema.webhooks.urls import refused_address


@pytest.mark.parametrize("address", [
    "64:ff9b::7f00:1",        # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",         # NAT64 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",     # NAT64 of the metadata service
    "2002:7f00:1::1",         # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",      # 6to4 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1 (obfuscated)
    "::ffff:127.0.0.1", "::127.0.0.1", "::1", "fe80::1", "fc00::1",
])
def test_ipv6_forms_of_private_ipv4_addresses_are_refused(address: str) -> None:
    assert refused_address(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["2002:808:808::1", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_addresses_stay_allowed(address: str) -> None:
    assert refused_address(ipaddress.ip_address(address)) is None
