"""A deadline for a request's headers, which uvicorn does not have.

uvicorn times out idle keep-alive connections, but a client that opens a connection and trickles
its headers a byte at a time (slowloris) holds it forever, and a few thousand such clients hold
every file descriptor. This protocol (uvicorn's h11 one, whose parser also bounds header size)
closes a connection whose next request's headers are not complete `header_timeout_s` after the
connection opened or the previous response ended, answering 408 first. A request whose headers
arrived is not timed here: its body has its own idle timeout (the frontend's body middleware).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

_TIMEOUT_BODY = b"the request's headers came too slowly\n"
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TIMEOUT_BODY), _TIMEOUT_BODY)
)


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        if not self.transport.is_closing():
            self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_overdue)

    def _disarm_header_deadline(self) -> None:
        deadline = getattr(self, "_header_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._header_deadline = None

    def _headers_overdue(self) -> None:
        self._header_deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is in hand: its headers came in time
        if self.transport.is_closing():
            return
        log.info("closing a connection from %s: its request's headers came too slowly", self.client)
        self.transport.write(_TIMEOUT_RESPONSE)
        self.transport.close()


@functools.cache
def header_deadline_protocol(header_timeout_s: float) -> type[Any]:
    """The protocol class uvicorn builds connections from, with this deadline for headers."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout_s": header_timeout_s})
