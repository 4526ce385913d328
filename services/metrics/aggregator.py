"""One instance's share of the figures: events in, rolling windows and job state kept, snapshots out."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from services.metrics.jobs import JobFinished, JobStarted, JobTracker
from services.metrics.sketch import from_distribution, to_distribution
from services.metrics.windows import (
    WINDOWS,
    Figures,
    RollingWindow,
    RouteFigures,
    WorkerFigures,
    WorkerTimingFigures,
    WorkTimingFigures,
)
from shared.events import (
    JobRequested,
    JobStatus,
    JobStatusChanged,
    LinkClicked,
    LinkCount,
    MetricsSnapshot,
    RequestObserved,
    WindowFigures,
    WorkerTimings,
    WorkOutcome,
    WorkTimed,
    WorkTimings,
    new_id,
)
from shared.events import RouteFigures as RouteFiguresMessage
from shared.events import WorkerFigures as WorkerFiguresMessage

#: Links a snapshot carries per window (each link lives on one partition, so this is exact per link).
TOP_LINKS = 20

MetricEvent = RequestObserved | LinkClicked | JobRequested | JobStatusChanged | WorkTimed
_Adder = Callable[[Figures], None]


class Aggregator:
    """Folds metric and job events into the windows of `WINDOWS`."""

    def __init__(self) -> None:
        self.windows = [RollingWindow(span, bucket) for span, bucket in WINDOWS]
        self.jobs = JobTracker()
        self.events = 0
        self.too_old = 0

    def observe(self, event: MetricEvent, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.events += 1
        if isinstance(event, RequestObserved):
            self._each_bucket(event.occurred_at.timestamp(), now, lambda f: _add_request(f, event))
        elif isinstance(event, LinkClicked):
            self._each_bucket(event.occurred_at.timestamp(), now, lambda f: f.clicks.update((event.link,)))
        elif isinstance(event, WorkTimed):
            # A redelivered timing would count twice; workers publish one per piece of work, and the
            # rare duplicate (a producer retry) only nudges the figures.
            self._each_bucket(event.occurred_at.timestamp(), now, lambda f: _add_timing(f, event))
        elif isinstance(event, JobRequested):
            if self.jobs.requested(event):
                self._each_bucket(event.occurred_at.timestamp(), now, lambda f: _add_upload(f, event))
        else:
            outcome = self.jobs.status(event)
            if isinstance(outcome, JobStarted) and outcome.queue_wait_s is not None:
                wait = outcome.queue_wait_s
                self._each_bucket(outcome.started_at.timestamp(), now, lambda f: f.queue_wait_s.add(wait))
            elif isinstance(outcome, JobFinished):
                finished = outcome
                self._each_bucket(finished.finished_at.timestamp(), now, lambda f: _add_finished(f, finished))

    def observe_all(self, events: Iterable[MetricEvent]) -> None:
        now = time.time()
        for event in events:
            self.observe(event, now)

    def clear(self) -> None:
        """Forget everything (partitions were reassigned: they are replayed from the window's start)."""
        for window in self.windows:
            window.clear()
        self.jobs.clear()

    def snapshot(
        self, instance_id: str, partitions: tuple[str, ...], now: float | None = None
    ) -> MetricsSnapshot:
        now = time.time() if now is None else now
        return MetricsSnapshot(
            correlation_id=new_id(),
            instance_id=instance_id,
            partitions=partitions,
            windows=tuple(to_window_message(w.span_s, w.figures(now)) for w in self.windows),
            jobs_queued=self.jobs.queued,
            jobs_processing=self.jobs.processing,
        )

    def _each_bucket(self, at: float, now: float, add: _Adder) -> None:
        landed = False
        for window in self.windows:
            bucket = window.bucket(at, now)
            if bucket is not None:
                add(bucket)
                landed = True
        if not landed:
            self.too_old += 1


def _add_request(figures: Figures, event: RequestObserved) -> None:
    route = figures.route(event.method, event.route)
    route.requests += 1
    if event.status >= 500:
        route.errors += 1
    elif event.status >= 400:
        route.client_errors += 1
    route.bytes_out += event.bytes_out
    route.latency_ms.add(event.latency_ms)


def _add_upload(figures: Figures, event: JobRequested) -> None:
    figures.uploads += 1
    figures.bytes_in += event.size_bytes


def _add_finished(figures: Figures, finished: JobFinished) -> None:
    if finished.status == JobStatus.DONE:
        figures.jobs_done += 1
    else:
        figures.jobs_failed += 1
    figures.bytes_out += finished.bytes_out
    worker = figures.worker(finished.worker_id)
    worker.jobs += 1
    if finished.encode_s is not None:
        figures.encode_s.add(finished.encode_s)
        worker.busy_s += finished.encode_s


def _add_timing(figures: Figures, event: WorkTimed) -> None:
    work = figures.work
    work.units += 1
    if event.outcome == WorkOutcome.FAILED:
        work.failed += 1
    work.bytes_in += event.bytes_in
    work.bytes_out += event.bytes_out
    work.download_s += event.download_s
    work.upload_s += event.upload_s
    work.queue_wait_s.add(event.queue_wait_s)
    work.encode_s.add(event.encode_s)
    worker = work.worker(event.worker_id)
    worker.units += 1
    worker.busy_s += event.busy_s
    worker.encode_s += event.encode_s
    worker.bytes_in += event.bytes_in
    worker.bytes_out += event.bytes_out


# --- Figures <-> the WindowFigures message of a snapshot ----------------------------------------------


def to_window_message(span_s: int, figures: Figures) -> WindowFigures:
    return WindowFigures(
        span_s=span_s,
        routes=tuple(
            RouteFiguresMessage(
                method=method,
                route=route,
                requests=r.requests,
                errors=r.errors,
                client_errors=r.client_errors,
                bytes_out=r.bytes_out,
                latency_ms=to_distribution(r.latency_ms),
            )
            for (method, route), r in sorted(figures.routes.items())
        ),
        clicks=tuple(LinkCount(link=link, clicks=n) for link, n in figures.clicks.most_common(TOP_LINKS)),
        uploads=figures.uploads,
        jobs_done=figures.jobs_done,
        jobs_failed=figures.jobs_failed,
        bytes_in=figures.bytes_in,
        bytes_out=figures.bytes_out,
        queue_wait_s=to_distribution(figures.queue_wait_s),
        encode_s=to_distribution(figures.encode_s),
        workers=tuple(
            WorkerFiguresMessage(worker_id=worker_id, jobs=w.jobs, busy_s=round(w.busy_s, 3))
            for worker_id, w in sorted(figures.workers.items())
        ),
        work=to_work_message(figures.work),
    )


def to_work_message(work: WorkTimingFigures) -> WorkTimings:
    return WorkTimings(
        units=work.units,
        failed=work.failed,
        bytes_in=work.bytes_in,
        bytes_out=work.bytes_out,
        download_s=round(work.download_s, 6),
        upload_s=round(work.upload_s, 6),
        queue_wait_s=to_distribution(work.queue_wait_s),
        encode_s=to_distribution(work.encode_s),
        workers=tuple(
            WorkerTimings(
                worker_id=worker_id,
                units=w.units,
                busy_s=round(w.busy_s, 6),
                encode_s=round(w.encode_s, 6),
                bytes_in=w.bytes_in,
                bytes_out=w.bytes_out,
            )
            for worker_id, w in sorted(work.workers.items())
        ),
    )


def from_work_message(message: WorkTimings) -> WorkTimingFigures:
    work = WorkTimingFigures(
        units=message.units,
        failed=message.failed,
        bytes_in=message.bytes_in,
        bytes_out=message.bytes_out,
        download_s=message.download_s,
        upload_s=message.upload_s,
        queue_wait_s=from_distribution(message.queue_wait_s),
        encode_s=from_distribution(message.encode_s),
    )
    for w in message.workers:
        work.workers[w.worker_id] = WorkerTimingFigures(
            units=w.units, busy_s=w.busy_s, encode_s=w.encode_s, bytes_in=w.bytes_in, bytes_out=w.bytes_out
        )
    return work


def from_window_message(message: WindowFigures) -> Figures:
    figures = Figures(
        uploads=message.uploads,
        jobs_done=message.jobs_done,
        jobs_failed=message.jobs_failed,
        bytes_in=message.bytes_in,
        bytes_out=message.bytes_out,
        queue_wait_s=from_distribution(message.queue_wait_s),
        encode_s=from_distribution(message.encode_s),
        work=from_work_message(message.work),
    )
    for r in message.routes:
        figures.routes[(r.method, r.route)] = RouteFigures(
            requests=r.requests,
            errors=r.errors,
            client_errors=r.client_errors,
            bytes_out=r.bytes_out,
            latency_ms=from_distribution(r.latency_ms),
        )
    for link in message.clicks:
        figures.clicks[link.link] += link.clicks
    for w in message.workers:
        figures.workers[w.worker_id] = WorkerFigures(jobs=w.jobs, busy_s=w.busy_s)
    return figures
