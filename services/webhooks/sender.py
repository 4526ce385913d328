"""Sending one signed webhook: checked address, bounded concurrency, a hard timeout, no redirects.

Every request connects to the address that passed the server-side request forgery checks (the URL's
host is sent as `Host` and, over HTTPS, as the TLS server name, so certificates are still verified
against it). Requests run concurrently up to a global bound and a smaller bound per endpoint, so a
receiver that hangs holds at most its own slots, never another endpoint's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from shared.webhooks.addresses import UrlRefused, checked_target
from shared.webhooks.messages import signed_headers
from shared.webhooks.settings import WebhookSettings

#: Requests one endpoint may have open at once.
PER_ENDPOINT_REQUESTS = 4
USER_AGENT = "reencode-webhooks/1"


@dataclass(frozen=True)
class Outcome:
    """What one try came to: the receiver's status, or why there was none."""

    status_code: int | None
    latency_ms: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _EndpointSlots:
    """A semaphore per endpoint, forgotten when nobody holds or waits for it."""

    def __init__(self, per_endpoint: int) -> None:
        self._per_endpoint = per_endpoint
        self._slots: dict[str, tuple[asyncio.Semaphore, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, endpoint_id: str) -> AsyncIterator[None]:
        semaphore, users = self._slots.get(endpoint_id, (asyncio.Semaphore(self._per_endpoint), 0))
        self._slots[endpoint_id] = (semaphore, users + 1)
        try:
            async with semaphore:
                yield
        finally:
            semaphore, users = self._slots[endpoint_id]
            if users == 1:
                del self._slots[endpoint_id]
            else:
                self._slots[endpoint_id] = (semaphore, users - 1)


class WebhookSender:
    def __init__(self, settings: WebhookSettings) -> None:
        self._timeout_s = settings.request_timeout_s
        self._allow_private = settings.allow_private_targets
        # No proxies from the environment (they would connect somewhere else than the checked address).
        self._client = httpx.AsyncClient(
            timeout=settings.request_timeout_s, follow_redirects=False, trust_env=False
        )
        self._slots = asyncio.Semaphore(settings.max_concurrent_requests)
        self._per_endpoint = _EndpointSlots(PER_ENDPOINT_REQUESTS)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, endpoint_id: str, url: str, secret: str, message_id: str, body: str) -> Outcome:
        """Sign `body` now and POST it to `url`; never raises for anything the receiver does."""
        async with self._per_endpoint.hold(endpoint_id), self._slots:
            started = time.monotonic()

            def elapsed_ms() -> float:
                return round((time.monotonic() - started) * 1000, 1)

            try:
                async with asyncio.timeout(self._timeout_s):
                    status = await self._post(url, secret, message_id, body)
            except UrlRefused as refusal:
                return Outcome(None, elapsed_ms(), f"refused: {refusal}")
            except (TimeoutError, httpx.TimeoutException):
                return Outcome(None, elapsed_ms(), f"no answer within {self._timeout_s:g} s")
            except httpx.HTTPError as error:
                return Outcome(None, elapsed_ms(), f"{type(error).__name__}: {error}"[:500])
            return Outcome(status, elapsed_ms(), _judge(status))

    async def _post(self, url: str, secret: str, message_id: str, body: str) -> int:
        target = await checked_target(url, self._allow_private)
        parsed = target.url
        default_port = 443 if parsed.scheme == "https" else 80
        host = parsed.host if parsed.port == default_port else f"{parsed.host}:{parsed.port}"
        headers = {
            "host": host,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **signed_headers(secret, message_id, body),
        }
        extensions = {"sni_hostname": parsed.host} if parsed.scheme == "https" else {}
        request = self._client.build_request(
            "POST", target.request_url(), content=body.encode(), headers=headers, extensions=extensions
        )
        # The answer's body is never read: only its status counts.
        response = await self._client.send(request, stream=True)
        await response.aclose()
        return response.status_code


def _judge(status: int) -> str | None:
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed"
    return f"HTTP {status}"
