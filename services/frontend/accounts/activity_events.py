"""Account events for activity monitoring: one call, never blocking the request."""

from __future__ import annotations

from fastapi import Request

from services.frontend.middleware.activity import report_activity
from shared.events import ActivityKind
from shared.logs import current_correlation_id


def report(request: Request, kind: ActivityKind, user_id: str | None, subject: str | None = None) -> None:
    report_activity(
        request.app,
        kind,
        user_id=user_id,
        subject=subject or (f"user:{user_id}" if user_id else None),
        request=f"{request.method} {request.url.path}",
        correlation_id=current_correlation_id(),
    )
