"""Timing a worker's work phase by phase, and reporting it on `metrics.work` without ever failing it.

Handlers wrap their phases in `timer.phase(...)` and count bytes on the timer; when the work ends the
`TimingReporter` turns the timer into one `WorkTimed` event. Phases use a monotonic clock (immune to
clock steps); only the queue wait compares wall clocks, because the request was stamped elsewhere.
Its `reports` publisher also carries the handlers' other best-effort reports (progress), so one
counter tells how many were lost; its `metrics` count the same work for Prometheus (the process's
/metrics), whether or not Kafka took the timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from services.reencoder.best_effort import BestEffortPublisher
from services.reencoder.metrics import ReencoderMetrics
from shared.events import METRICS_WORK, WorkKind, WorkOutcome, WorkTimed, utc_now
from shared.kafka import EventProducer

Phase = Literal["download", "encode", "upload"]

#: A timing is worth less than the job: never wait longer than this for Kafka to take it.
PUBLISH_TIMEOUT_S = 10.0


@dataclass
class PhaseTimer:
    """Seconds spent in each phase of one piece of work (a phase may be entered several times)."""

    clock: Callable[[], float] = time.monotonic
    #: Wall-clock start of the work, to compare with when the work was requested.
    started_at: datetime = field(default_factory=utc_now)
    seconds: dict[Phase, float] = field(default_factory=dict)
    bytes_in: int = 0
    bytes_out: int = 0

    #: The phase an exception or cancellation (a timeout) last broke off: one in "download" or
    #: "upload" is storage's doing, not the file's.
    broken_off: Phase | None = None

    @contextmanager
    def phase(self, name: Phase) -> Iterator[None]:
        start = self.clock()
        try:
            yield
        except BaseException:
            self.broken_off = name
            raise
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + self.clock() - start

    def queue_wait_s(self, requested_at: datetime) -> float:
        # Clocks of two hosts may disagree by a little: a negative wait means "none".
        return max(0.0, (self.started_at - requested_at).total_seconds())


class TimingReporter:
    def __init__(
        self, producer: EventProducer, worker_id: str, metrics: ReencoderMetrics | None = None
    ) -> None:
        self.worker_id = worker_id
        self.metrics = metrics or ReencoderMetrics()
        #: Progress and timings: published without ever failing (or long holding up) the work.
        self.reports = BestEffortPublisher(
            producer, timeout_s=PUBLISH_TIMEOUT_S, registry=self.metrics.registry
        )

    async def report(
        self,
        timer: PhaseTimer,
        *,
        correlation_id: str,
        job_id: str,
        task_id: str | None,
        kind: WorkKind,
        requested_at: datetime,
        outcome: WorkOutcome,
        rung: str = "",
        media_s: float = 0.0,
    ) -> None:
        """Count the work and publish its timing; a refusal is logged, never raised (the work itself
        is already done). `rung` names the output (see `metrics`); `media_s` is a video's length."""
        queue_wait_s = timer.queue_wait_s(requested_at)
        self.metrics.record(kind, outcome, timer, rung=rung, queue_wait_s=queue_wait_s, media_s=media_s)
        event = WorkTimed(
            correlation_id=correlation_id,
            job_id=job_id,
            task_id=task_id,
            kind=kind,
            worker_id=self.worker_id,
            outcome=outcome,
            queue_wait_s=queue_wait_s,
            download_s=round(timer.seconds.get("download", 0.0), 6),
            encode_s=round(timer.seconds.get("encode", 0.0), 6),
            upload_s=round(timer.seconds.get("upload", 0.0), 6),
            bytes_in=timer.bytes_in,
            bytes_out=timer.bytes_out,
        )
        # Awaited (within the bound) so that the timing precedes the job's final status.
        await self.reports.publish(METRICS_WORK, event)
