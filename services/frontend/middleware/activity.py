"""User activity events (the monitoring page's activity feed), sent without delaying any response.

`report_activity` is the one way frontend code reports what a user did; the accounts routes call
it for registrations and logins, the clicks route for tracked clicks. It only starts a background
send (bounded: past `MAX_IN_FLIGHT` unsent events, new ones are dropped and counted), so a slow or
absent broker never slows a page.

`record_activity` is a middleware that reports what the requests themselves tell: an accepted
upload, a job looked at, a rendition downloaded, a job deleted. It recognises them by the route
that answered (its template, such as `/api/jobs/{job_id}`), which routing has set by the time the
response comes back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response

from services.frontend.middleware.correlation import CORRELATION_HEADER
from shared.events import USER_ACTIVITY, ActivityKind, UserActivity, new_id
from shared.kafka import EventProducer

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 1000

#: (method, route template, status) -> what the user did, and what about (filled in from the path).
_RULES: dict[tuple[str, str, int], tuple[ActivityKind, str]] = {
    ("POST", "/api/uploads", 202): (ActivityKind.UPLOADED, "upload"),
    ("GET", "/api/jobs/{job_id}", 200): (ActivityKind.VIEWED, "job:{job_id}"),
    ("DELETE", "/api/jobs/{job_id}", 204): (ActivityKind.DELETED, "job:{job_id}"),
    ("GET", "/media/{job_id}/{name}", 200): (ActivityKind.VIEWED, "rendition:{job_id}/{name}"),
    # A rendition is delivered by a redirect to storage (the HLS master playlist alone by a 200).
    ("GET", "/media/{job_id}/{name}", 307): (ActivityKind.VIEWED, "rendition:{job_id}/{name}"),
}


def activity_for(
    method: str, route: str, path_params: Mapping[str, str], status: int
) -> tuple[ActivityKind, str] | None:
    """What a finished request tells about the user's activity, if anything: (kind, subject).

    `route` is the template of the route that answered, `path_params` what its placeholders matched.
    """
    rule = _RULES.get((method, route, status))
    if rule is None:
        return None
    kind, subject = rule
    return kind, subject.format_map(path_params)


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
    # Routing has set the route that answered (none for unmatched paths and static files).
    route = getattr(request.scope.get("route"), "path", None)
    if route is None:
        return response
    found = activity_for(request.method, route, request.scope.get("path_params", {}), response.status_code)
    if found is not None:
        kind, subject = found
        report_activity(
            request.app,
            kind,
            # Set by authentication (accounts.dependencies) when the caller signed in.
            user_id=getattr(request.state, "user_id", None),
            subject=subject,
            request=f"{request.method} {request.url.path}",
            correlation_id=response.headers.get(CORRELATION_HEADER),
        )
    return response
