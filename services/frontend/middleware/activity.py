"""User activity events (the design's activity monitoring), sent without delaying any response.

`report_activity` is the one way frontend code reports what a user did; the accounts work calls it
for registrations and logins. It only starts a background send (bounded: past `MAX_IN_FLIGHT`
unsent events, new ones are dropped and counted), so a slow or absent broker never slows a page.

`record_activity` is a middleware that reports what the requests themselves tell: an accepted
upload, a job looked at, a rendition downloaded, a job deleted.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response

from services.frontend.middleware.correlation import CORRELATION_HEADER
from shared.events import USER_ACTIVITY, ActivityKind, UserActivity, new_id
from shared.kafka import EventProducer

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 1000

# (method, path pattern, status) -> what the user did and what about.
_RULES: tuple[tuple[str, re.Pattern[str], int, ActivityKind, str], ...] = (
    ("POST", re.compile(r"^/api/uploads$"), 202, ActivityKind.UPLOADED, "upload"),
    ("GET", re.compile(r"^/api/jobs/(?P<job>[0-9a-f]{32})$"), 200, ActivityKind.VIEWED, "job:{job}"),
    ("DELETE", re.compile(r"^/api/jobs/(?P<job>[0-9a-f]{32})$"), 204, ActivityKind.DELETED, "job:{job}"),
    (
        "GET",
        re.compile(r"^/media/(?P<job>[0-9a-f]{32})/(?P<name>[^/]+)$"),
        200,
        ActivityKind.VIEWED,
        "rendition:{job}/{name}",
    ),
)


def activity_for(method: str, path: str, status: int) -> tuple[ActivityKind, str] | None:
    """What a finished request tells about the user's activity, if anything: (kind, subject)."""
    for rule_method, pattern, rule_status, kind, subject in _RULES:
        if method == rule_method and status == rule_status and (match := pattern.match(path)):
            return kind, subject.format(**match.groupdict())
    return None


@dataclass
class ActivityReporter:
    producer: EventProducer
    instance_id: str
    dropped: int = 0
    _in_flight: set[asyncio.Task[None]] = field(default_factory=set)

    def report(self, event: UserActivity) -> None:
        if len(self._in_flight) >= MAX_IN_FLIGHT:
            self.dropped += 1
            return
        task = asyncio.create_task(self._send(event))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _send(self, event: UserActivity) -> None:
        try:
            await self.producer.publish(USER_ACTIVITY, event)
        except Exception as error:
            self.dropped += 1
            log.warning("activity event not sent: %s", error)


def report_activity(
    app: FastAPI,
    kind: ActivityKind,
    *,
    user_id: str | None = None,
    subject: str | None = None,
    request: str | None = None,
    correlation_id: str | None = None,
) -> None:
    """Report one user action; returns at once. Does nothing before the app has started."""
    reporter = _reporter(app)
    if reporter is None:
        return
    reporter.report(
        UserActivity(
            correlation_id=correlation_id or new_id(),
            kind=kind,
            user_id=user_id,
            subject=subject,
            request=request,
            instance_id=reporter.instance_id,
        )
    )


def _reporter(app: FastAPI) -> ActivityReporter | None:
    reporter: ActivityReporter | None = getattr(app.state, "activity", None)
    context = getattr(app.state, "context", None)
    if reporter is None and context is not None:
        reporter = app.state.activity = ActivityReporter(context.producer, context.instance_id)
    return reporter


async def record_activity(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Middleware: report uploads and views once the response is decided."""
    response = await call_next(request)
    found = activity_for(request.method, request.url.path, response.status_code)
    if found is not None:
        kind, subject = found
        report_activity(
            request.app,
            kind,
            # Set by the accounts work's authentication once users exist.
            user_id=getattr(request.state, "user_id", None),
            subject=subject,
            request=f"{request.method} {request.url.path}",
            correlation_id=response.headers.get(CORRELATION_HEADER),
        )
    return response
