"""Running job figures computed from `jobs.status`: counts per outcome and where jobs stand now."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.events import JobStatus, JobStatusChanged


@dataclass
class JobFigures:
    """Folds status events into figures; each job counts once per state however often it is reported."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _states: dict[str, JobStatus] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._finished = Counter(
            "reencode_jobs_finished",
            "Jobs that reached a final state",
            ["status"],
            registry=self.registry,
        )
        self._in_progress = Gauge(
            "reencode_jobs_processing", "Jobs a worker is encoding now", registry=self.registry
        )

    def observe(self, event: JobStatusChanged) -> None:
        previous = self._states.get(event.job_id)
        if previous is not None and previous.is_terminal:
            return  # a redelivery or a late report: already counted
        self._states[event.job_id] = event.status
        if event.status.is_terminal:
            self._finished.labels(event.status.value).inc()
        if previous != JobStatus.PROCESSING and event.status == JobStatus.PROCESSING:
            self._in_progress.inc()
        elif previous == JobStatus.PROCESSING and event.status != JobStatus.PROCESSING:
            self._in_progress.dec()

    def summary(self) -> dict[str, int]:
        counts = {status.value: 0 for status in JobStatus}
        for status in self._states.values():
            counts[status.value] += 1
        return counts
