"""The alert engine: watchers report what they find wrong; the engine raises and clears alerts.

Pure logic, no I/O: each look at one part of the system (`source`) hands over its findings, and
`reconcile` answers which alerts changed (newly raised or cleared), each with its timestamps. The
caller publishes those changes to the alerts topic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from shared.events import Alert, AlertSeverity, AlertState, new_id, utc_now


@dataclass(frozen=True)
class Finding:
    """Something wrong right now. `key` names the condition, stable from one look to the next."""

    key: str
    source: str
    severity: AlertSeverity
    message: str


class AlertEngine:
    def __init__(self, history: int = 500) -> None:
        self._active: dict[str, Alert] = {}
        self._history: deque[Alert] = deque(maxlen=history)

    def reconcile(
        self,
        source: str,
        findings: Iterable[Finding],
        now: datetime | None = None,
        clear_missing: bool = True,
    ) -> list[Alert]:
        """Raise the findings that are new, clear the active alerts of `source` no longer found.

        `clear_missing=False` is for a look that failed half-way (the source is unreachable): what
        could not be examined is not thereby fixed. Returns the changes, oldest first.
        """
        now = now or utc_now()
        found = {finding.key: finding for finding in findings}
        changes: list[Alert] = []
        for key, finding in found.items():
            active = self._active.get(key)
            if active is None:
                alert = Alert(
                    correlation_id=new_id(),
                    occurred_at=now,
                    key=key,
                    source=finding.source,
                    severity=finding.severity,
                    state=AlertState.RAISED,
                    message=finding.message,
                    raised_at=now,
                )
                self._active[key] = alert
                changes.append(alert)
            elif active.message != finding.message or active.severity != finding.severity:
                # Figures in the message move (lag, counts): keep the page current, no new event.
                self._active[key] = active.model_copy(
                    update={"message": finding.message, "severity": finding.severity}
                )
        if clear_missing:
            for key, active in list(self._active.items()):
                if active.source == source and key not in found:
                    del self._active[key]
                    changes.append(
                        active.model_copy(
                            update={
                                "event_id": new_id(),
                                "occurred_at": now,
                                "state": AlertState.CLEARED,
                                "cleared_at": now,
                            }
                        )
                    )
        self._history.extendleft(changes)
        return changes

    def observe(self, alert: Alert) -> None:
        """An alert another service published (the metrics service's rules): shown beside ours."""
        if alert.state is AlertState.RAISED:
            self._active[alert.key] = alert
        elif self._active.pop(alert.key, None) is None:
            return  # a clear for an alert never seen raised: nothing to show
        self._history.appendleft(alert)

    def active(self) -> list[Alert]:
        """Alerts raised and not cleared, critical first, then oldest first."""
        return sorted(
            self._active.values(),
            key=lambda alert: (alert.severity != AlertSeverity.CRITICAL, alert.raised_at),
        )

    def history(self) -> list[Alert]:
        """Every raise and clear, newest first."""
        return list(self._history)
