"""Forwarding a GET to another service's HTTP API (the frontend is the site's one public door).

Generic on purpose: any backend service's read-only API can be passed through with `forward_get`.
The answer is streamed, so a server-sent event stream flows through as it is produced; an
unreachable backend becomes a readable 503 instead of a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import HTTPException
from fastapi.responses import StreamingResponse
from httpx import AsyncClient, Timeout, TransportError
from pydantic_settings import BaseSettings
from starlette.background import BackgroundTask


class BackendAddress(BaseSettings):
    """Where a backend service listens: `<PREFIX>URL` (compose), else 127.0.0.1 on `<PREFIX>PORT`
    (what the local stack sets). Subclasses set the prefix and the default port."""

    url: str | None = None
    port: int

    @property
    def base_url(self) -> str:
        return self.url or f"http://127.0.0.1:{self.port}"


#: Response headers worth passing on; hop-by-hop and server headers are the frontend's own.
PASSED_HEADERS = ("content-type", "cache-control", "content-length", "last-modified", "etag")


async def forward_get(
    base_url: str, path: str, service: str, params: Mapping[str, str] | None = None
) -> StreamingResponse:
    """GET `base_url + path` and relay status, body and the useful headers."""
    # No read timeout: a live stream stays open for as long as the page does.
    client = AsyncClient(base_url=base_url, timeout=Timeout(10.0, read=None))
    try:
        upstream = await client.send(client.build_request("GET", path, params=params), stream=True)
    except TransportError as error:
        await client.aclose()
        raise HTTPException(
            503, f"the {service} service at {base_url} is not answering ({type(error).__name__}); try again"
        ) from error

    async def close() -> None:
        await upstream.aclose()
        await client.aclose()

    headers = {k: v for k, v in upstream.headers.items() if k.lower() in PASSED_HEADERS}
    # Tells nginx (compose) not to buffer a live stream.
    headers["X-Accel-Buffering"] = "no"
    return StreamingResponse(
        upstream.aiter_raw(),
        status_code=upstream.status_code,
        headers=headers,
        background=BackgroundTask(close),
    )
