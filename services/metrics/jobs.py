"""Where every job stands, and its timings, derived from `jobs.requested` and `jobs.status`.

These are the fallback for the workers' own timings (`metrics.work`, preferred by the summary where
present): a job's queue wait is its first `processing` report minus its request, its encode time is
its final report minus its first `processing` report, and the worker is the one that finished it.
Reports can be redelivered or arrive out of order (two topics), so a job counts once per state and a
finished job is never revived by a late message.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from shared.events import JobRequested, JobStatus, JobStatusChanged

#: How many finished job ids are remembered to ignore their late or repeated reports.
FINISHED_MEMORY = 100_000


@dataclass
class LiveJob:
    requested_at: datetime | None = None
    started_at: datetime | None = None
    size_bytes: int = 0


@dataclass(frozen=True)
class JobFinished:
    """A job's outcome with the timings the windows record."""

    status: JobStatus
    worker_id: str
    finished_at: datetime
    encode_s: float | None
    bytes_in: int
    bytes_out: int


@dataclass(frozen=True)
class JobStarted:
    started_at: datetime
    queue_wait_s: float | None


class JobTracker:
    """Folds job events into live state and per-outcome totals."""

    def __init__(self) -> None:
        self._live: dict[str, LiveJob] = {}
        self._finished: OrderedDict[str, JobStatus] = OrderedDict()
        self.totals: dict[str, int] = {JobStatus.DONE.value: 0, JobStatus.FAILED.value: 0}

    def requested(self, event: JobRequested) -> bool:
        """Record an upload; False if the job is already known (a redelivery)."""
        if event.job_id in self._finished:
            return False
        job = self._live.setdefault(event.job_id, LiveJob())
        if job.requested_at is not None:
            return False
        job.requested_at = event.occurred_at
        job.size_bytes = event.size_bytes
        return True

    def status(self, event: JobStatusChanged) -> JobStarted | JobFinished | None:
        """Record a worker's report; returns what the windows should count, if anything."""
        if event.job_id in self._finished:
            return None
        job = self._live.setdefault(event.job_id, LiveJob())
        if event.status == JobStatus.PROCESSING:
            if job.started_at is not None:
                return None  # progress reports of a job already started
            job.started_at = event.occurred_at
            return JobStarted(event.occurred_at, _seconds(job.requested_at, event.occurred_at))
        if not event.status.is_terminal:
            return None
        del self._live[event.job_id]
        self._remember_finished(event.job_id, event.status)
        self.totals[event.status.value] += 1
        return JobFinished(
            status=event.status,
            worker_id=event.worker_id,
            finished_at=event.occurred_at,
            encode_s=_seconds(job.started_at, event.occurred_at),
            bytes_in=job.size_bytes,
            bytes_out=sum(rendition.bytes for rendition in event.renditions),
        )

    @property
    def queued(self) -> int:
        return sum(1 for job in self._live.values() if job.started_at is None and job.requested_at)

    @property
    def processing(self) -> int:
        return sum(1 for job in self._live.values() if job.started_at is not None)

    def clear(self) -> None:
        self._live.clear()
        self._finished.clear()
        self.totals = dict.fromkeys(self.totals, 0)

    def _remember_finished(self, job_id: str, status: JobStatus) -> None:
        self._finished[job_id] = status
        while len(self._finished) > FINISHED_MEMORY:
            self._finished.popitem(last=False)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())
