"""Alert rules judged on the site-wide view every tick, against each figure's own recent baseline.

A rule reads one field of the summary (p95 latency of the last 10 s, the error ratio, the job
backlog's growth) and compares it with its baseline: an exponentially weighted average of the same
figure over the last minutes, frozen while the alert is raised so a long incident does not become
the new normal. A rule raises when the figure leaves the baseline by both a factor and an absolute
margin (so a quiet site's 2 ms -> 7 ms is not an incident) on enough samples, and clears by itself
once the figure has been back for a few ticks, or when there is no traffic left to judge.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from services.metrics.summary import ActiveAlert, MetricsSummary
from shared.events import Alert, AlertSeverity, AlertState, new_id, utc_now

#: A reading of one figure: (value, how many samples it stands on); None when there is nothing to judge.
Reading = tuple[float, int] | None


@dataclass
class BaselineRule:
    """Raise when a figure exceeds `factor` x its baseline and `margin` above it, on `min_samples`."""

    name: str
    read: Callable[[MetricsSummary], Reading]
    describe: str
    unit: str
    factor: float
    margin: float
    min_samples: int
    severity: AlertSeverity = AlertSeverity.WARNING
    #: Ticks of baseline learning before the rule may fire.
    warmup_ticks: int = 5
    #: Weight of each new reading in the baseline (0.05 per 1 s tick: about a minute of memory).
    alpha: float = 0.05
    clear_after_ticks: int = 3
    baseline: float | None = None
    ticks: int = 0
    raised_at: datetime | None = None
    calm_ticks: int = 0
    last_value: float | None = None

    def judge(self, summary: MetricsSummary) -> AlertState | None:
        """Feed one tick; returns RAISED or CLEARED when the alert changes state."""
        reading = self.read(summary)
        if reading is None or reading[1] < self.min_samples:
            self.last_value = None if reading is None else reading[0]
            if self.raised_at is not None:
                return self._clear()  # nothing left to judge: the condition has ended
            return None
        value, _samples = reading
        self.last_value = value
        if self.baseline is None:
            self.baseline = value
        breached = self.ticks >= self.warmup_ticks and self._breaches(value)
        if self.raised_at is None:
            if breached:
                self.raised_at = utc_now()
                self.calm_ticks = 0
                return AlertState.RAISED
            self._learn(value)
            return None
        self.calm_ticks = 0 if breached else self.calm_ticks + 1
        if self.calm_ticks >= self.clear_after_ticks:
            return self._clear()
        return None

    def threshold(self) -> float | None:
        if self.baseline is None:
            return None
        return max(self.baseline * self.factor, self.baseline + self.margin)

    def _breaches(self, value: float) -> bool:
        threshold = self.threshold()
        return threshold is not None and value > threshold

    def _learn(self, value: float) -> None:
        assert self.baseline is not None
        self.baseline += self.alpha * (value - self.baseline)
        self.ticks += 1

    def _clear(self) -> AlertState:
        self.raised_at = None
        self.calm_ticks = 0
        return AlertState.CLEARED

    def message(self) -> str:
        value = "n/a" if self.last_value is None else f"{self.last_value:.3g}{self.unit}"
        baseline = "n/a" if self.baseline is None else f"{self.baseline:.3g}{self.unit}"
        return f"{self.describe}: {value} against a baseline of {baseline}"


def read_p95_latency(summary: MetricsSummary) -> Reading:
    window = summary.window(10)
    p95 = window.latency_ms.p95
    return None if p95 is None else (p95, window.requests)


def read_error_ratio(summary: MetricsSummary) -> Reading:
    window = summary.window(10)
    return None if not window.requests else (window.error_ratio, window.requests)


class BacklogGrowth:
    """Job backlog (queued jobs) change over the last minute; samples = the backlog now."""

    def __init__(self, span_ticks: int = 60) -> None:
        self._history: deque[int] = deque(maxlen=span_ticks)

    def __call__(self, summary: MetricsSummary) -> Reading:
        queued = summary.jobs.queued
        self._history.append(queued)
        # Jobs per minute the backlog grew by (arrivals minus what workers drained).
        return float(queued - self._history[0]), queued


def default_rules() -> list[BaselineRule]:
    return [
        BaselineRule(
            name="latency_p95",
            read=read_p95_latency,
            describe="p95 request latency (10 s) is far above its recent baseline",
            unit=" ms",
            factor=3.0,
            margin=100.0,
            min_samples=20,
        ),
        BaselineRule(
            name="error_ratio",
            read=read_error_ratio,
            describe="share of requests answered with a server error (10 s) is above its baseline",
            unit="",
            factor=3.0,
            margin=0.05,
            min_samples=10,
            severity=AlertSeverity.CRITICAL,
        ),
        BaselineRule(
            name="job_backlog_growth",
            read=BacklogGrowth(),
            describe="the job backlog grows faster than workers drain it (jobs per minute)",
            unit=" jobs",
            factor=1.0,
            margin=10.0,
            min_samples=10,
        ),
    ]


@dataclass
class RuleBook:
    """Runs the rules each tick; keeps the alerts raised now and returns the changes to publish."""

    rules: list[BaselineRule] = field(default_factory=default_rules)
    raised: dict[str, Alert] = field(default_factory=dict)

    def tick(self, summary: MetricsSummary) -> list[Alert]:
        changes: list[Alert] = []
        for rule in self.rules:
            state = rule.judge(summary)
            key = f"metrics.{rule.name}"
            if state == AlertState.RAISED:
                alert = Alert(
                    correlation_id=new_id(),
                    key=key,
                    source="metrics",
                    severity=rule.severity,
                    state=AlertState.RAISED,
                    message=rule.message(),
                    raised_at=rule.raised_at or utc_now(),
                )
                self.raised[key] = alert
                changes.append(alert)
            elif state == AlertState.CLEARED and key in self.raised:
                raised = self.raised.pop(key)
                changes.append(
                    raised.model_copy(
                        update={
                            "event_id": new_id(),
                            "state": AlertState.CLEARED,
                            "cleared_at": utc_now(),
                            "occurred_at": utc_now(),
                            "message": rule.message(),
                        }
                    )
                )
        return changes

    def restore(self, alerts: list[Alert]) -> None:
        """Adopt alerts an earlier instance raised: they clear like any other once the figure is calm."""
        by_key = {f"metrics.{rule.name}": rule for rule in self.rules}
        for alert in alerts:
            rule = by_key.get(alert.key)
            if rule is not None and alert.key not in self.raised:
                rule.raised_at = alert.raised_at
                self.raised[alert.key] = alert

    def active(self) -> list[ActiveAlert]:
        """The alerts raised now, with their figures, for the summary and the dashboard."""
        by_name = {f"metrics.{rule.name}": rule for rule in self.rules}
        active = []
        for key, alert in self.raised.items():
            rule = by_name[key]
            active.append(
                ActiveAlert(
                    **dict(alert),
                    value=rule.last_value,
                    baseline=rule.baseline,
                    threshold=rule.threshold(),
                )
            )
        return active
