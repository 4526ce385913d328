"""Webhook URLs that would reach the site's own networks are refused, whatever form the address takes."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from shared.webhooks.addresses import (
    UrlRefused,
    check_addresses,
    checked_target,
    forbidden_reason,
    parse_webhook_url,
)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.9", "private"),
        ("192.168.1.1", "private"),
        ("fd12::1", "private"),
        ("169.254.169.254", "metadata"),
        ("fd00:ec2::254", "metadata"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
    ],
)
def test_addresses_that_are_not_public_are_refused_with_their_kind(address: str, reason: str) -> None:
    found = forbidden_reason(ipaddress.ip_address(address))
    assert found is not None
    assert reason in found


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("https:///path", "no host"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com/" + "a" * 2000, "longer than"),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(url: str, complaint: str) -> None:
    with pytest.raises(UrlRefused, match=complaint):
        parse_webhook_url(url)


def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    url = parse_webhook_url("https://mixed.example/hook")
    addresses = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.5")]
    with pytest.raises(UrlRefused, match=r"10\.0\.0\.5, a private address"):
        check_addresses(url, addresses, allow_private=False)
    assert check_addresses(url, addresses, allow_private=True).address == addresses[0]


def test_a_name_that_resolves_to_loopback_is_refused_unless_allowed() -> None:
    with pytest.raises(UrlRefused, match=r"localhost resolves to .*loopback"):
        asyncio.run(checked_target("http://localhost:8080/hook", allow_private=False))
    target = asyncio.run(checked_target("http://localhost:8080/hook?x=1", allow_private=True))
    assert target.address.is_loopback
    assert target.request_url().endswith(":8080/hook?x=1")


def test_the_request_goes_to_the_checked_address_with_the_path_and_port() -> None:
    target = check_addresses(
        parse_webhook_url("https://hooks.example/in"),
        [ipaddress.ip_address("2001:db8::7")],
        allow_private=True,
    )
    assert target.request_url() == "https://[2001:db8::7]:443/in"
