"""Which webhook URLs may be called: refusing server-side request forgery.

A user could otherwise make the site call its own internals (Kafka, MinIO, the database, a cloud's
metadata service) and read the answers in the delivery log. So a URL is refused when its host
resolves to any address that is not public, both when it is registered and again at every delivery
(DNS may answer differently later); the delivery then connects to the very address that was
checked, so a second lookup cannot swap it (DNS rebinding). Local development and the tests call
receivers on 127.0.0.1, hence the setting `allow_private`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_CHARS = 2000

#: Cloud metadata services answer on these (AWS and others, AWS over IPv6, Alibaba). Most are
#: link-local already; they are named so that the refusal says what they are.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
#: Carrier-grade NAT space is neither private nor global in Python's tables: refused too.
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")


class UrlRefused(ValueError):
    """A webhook URL that may not be called; the message says why, for the user."""


@dataclass(frozen=True)
class WebhookUrl:
    """A syntactically acceptable webhook URL, split into what a connection needs."""

    url: str
    scheme: str
    host: str
    port: int
    #: Path and query, as sent in the request line.
    target: str


@dataclass(frozen=True)
class CheckedTarget:
    """A URL with the address it resolved to and that passed the checks: connect to exactly this."""

    url: WebhookUrl
    address: IPAddress

    def request_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        host = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.url.scheme}://{host}:{self.url.port}{self.url.target}"


def parse_webhook_url(url: str) -> WebhookUrl:
    """The URL split, or `UrlRefused` for anything but a plain http(s) URL with a host."""
    if len(url) > MAX_URL_CHARS:
        raise UrlRefused(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise UrlRefused(f"not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("the URL must start with http:// or https://")
    if not parts.hostname:
        raise UrlRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("the URL may not carry a user name or password")
    if parts.fragment:
        raise UrlRefused("the URL may not have a #fragment")
    return WebhookUrl(
        url=url.strip(),
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or (443 if parts.scheme == "https" else 80),
        target=_target(parts),
    )


def _target(parts: SplitResult) -> str:
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def forbidden_reason(address: IPAddress) -> str | None:
    """Why a webhook may not be sent to `address`, or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return forbidden_reason(address.ipv4_mapped)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_multicast, "a multicast address"),
        (address.version == 4 and address in _SHARED_ADDRESS_SPACE, "a carrier-grade NAT address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def check_addresses(url: WebhookUrl, addresses: list[IPAddress], allow_private: bool) -> CheckedTarget:
    """The first address when every one of them may be called (or `allow_private`), else `UrlRefused`."""
    if not addresses:
        raise UrlRefused(f"{url.host} does not resolve to any address")
    if not allow_private:
        for address in addresses:
            reason = forbidden_reason(address)
            if reason is not None:
                raise UrlRefused(
                    f"{url.host} resolves to {address}, {reason}: webhooks are only sent to public addresses"
                )
    return CheckedTarget(url, addresses[0])


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (a literal address is its own answer)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise UrlRefused(f"{host} cannot be resolved: {error.strerror or error}") from None
    found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    return list(dict.fromkeys(found))


async def checked_target(url: str, allow_private: bool) -> CheckedTarget:
    """Parse, resolve and check `url`: what a delivery connects to, or `UrlRefused`."""
    parsed = parse_webhook_url(url)
    return check_addresses(parsed, await resolve(parsed.host, parsed.port), allow_private)
