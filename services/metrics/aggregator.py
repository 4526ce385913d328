"""One instance's share of the figures: events in, rolling windows and job state kept, snapshots out."""

from __future__ import annotations

import math
import operator
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.metrics.decoding import Row
from services.metrics.jobs import JobFinished, JobStarted, JobTracker
from services.metrics.playback import playback_from_wire, playback_to_wire
from services.metrics.sketch import SketchBatch
from services.metrics.windows import (
    WINDOWS,
    RollingWindow,
    RouteTally,
    Tally,
    WorkerTally,
    WorkerTimingTally,
    WorkTally,
    from_wire,
    to_wire,
)
from shared.events import (
    JobRequested,
    JobStatus,
    JobStatusChanged,
    LinkClicked,
    LinkCount,
    MetricsSnapshot,
    PlaybackReported,
    RequestObserved,
    RouteFigures,
    WindowFigures,
    WorkerFigures,
    WorkerTimings,
    WorkOutcome,
    WorkTimed,
    WorkTimings,
    new_id,
)

#: Links a snapshot carries per window (each link lives on one partition, so this is exact per link).
TOP_LINKS = 20

MetricEvent = RequestObserved | LinkClicked | JobRequested | JobStatusChanged | WorkTimed | PlaybackReported
_Adder = Callable[[Tally], None]


class Aggregator:
    """Folds metric and job events into the windows of `WINDOWS`."""

    def __init__(self) -> None:
        self.windows = [RollingWindow(span, bucket) for span, bucket in WINDOWS]
        self.jobs = JobTracker()
        self.events = 0
        self.too_old = 0

    def observe(self, event: MetricEvent, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if isinstance(event, RequestObserved):
            self.observe_requests([dict(event)], now)  # one way to fold requests
            return
        self.events += 1
        if isinstance(event, LinkClicked):
            self._each_bucket(event.occurred_at.timestamp(), now, lambda f: f.clicks.update((event.link,)))
        elif isinstance(event, WorkTimed):
            # A redelivered timing would count twice; workers publish one per piece of work, and the
            # rare duplicate (a producer retry) only nudges the figures.
            self._each_bucket(event.occurred_at.timestamp(), now, lambda f: _add_timing(f, event))
        elif isinstance(event, PlaybackReported):
            self._each_bucket(event.occurred_at.timestamp(), now, lambda f: f.playback.add(event))
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

    def observe_requests(self, rows: Sequence[Row], now: float | None = None) -> None:
        """Fold `RequestObserved` events given as decoded rows (`services.metrics.decoding`).

        The hot path: requests come by the thousand per second. They are grouped by second and
        route first, so each window's bucket takes one update per group (and its latency sketch one
        add per distinct bin) instead of one per event; the figures come out as `observe` makes them.
        """
        now = time.time() if now is None else now
        floor = math.floor
        groups: dict[tuple[Any, ...], _RequestGroup] = {}
        for occurred_at, method, route, status, latency_ms, bytes_out in _request_fields(rows):
            # Grouped by the time's own fields, its second and zone: an aware datetime's `timestamp()`
            # costs more than the rest of this loop, so it is taken once per group, below.
            key = (
                (None, method, route)
                if occurred_at is None
                else (
                    occurred_at.second,
                    occurred_at.minute,
                    occurred_at.hour,
                    occurred_at.day,
                    occurred_at.month,
                    occurred_at.year,
                    occurred_at.tzinfo,
                    method,
                    route,
                )
            )
            group = groups.get(key)
            if group is None:
                group = groups[key] = _RequestGroup(occurred_at, method, route)
            group.statuses.append(status)
            group.latencies.append(latency_ms)
            group.bytes_out += bytes_out
        latest = floor(now)  # events from the future count as now, as `RollingWindow.bucket` does
        for group in groups.values():
            method, route = group.method, group.route
            second = latest if group.at is None else min(floor(group.at.timestamp()), latest)
            self.events += len(group.latencies)
            landed = False
            latencies = SketchBatch(group.latencies)
            errors = sum(1 for status in group.statuses if status >= 500)
            client_errors = sum(1 for status in group.statuses if 400 <= status < 500)
            for window in self.windows:
                bucket = window.bucket(second, now)
                if bucket is None:
                    continue
                landed = True
                tally = bucket.route(method, route)
                tally.requests += len(group.statuses)
                tally.errors += errors
                tally.client_errors += client_errors
                tally.bytes_out += group.bytes_out
                latencies.apply(tally.latency_ms)
            if not landed:
                self.too_old += len(group.latencies)

    def clear(self) -> None:
        """Forget everything (partitions were reassigned: they are replayed from the window's start)."""
        for window in self.windows:
            window.clear()
        self.jobs.clear()

    def figures(self, now: float | None = None) -> dict[int, Tally]:
        """Span -> this instance's figures of that window (fresh objects)."""
        now = time.time() if now is None else now
        return {window.span_s: window.figures(now) for window in self.windows}

    def snapshot(
        self,
        instance_id: str,
        partitions: tuple[str, ...],
        now: float | None = None,
        figures: dict[int, Tally] | None = None,
        with_windows: bool = True,
    ) -> MetricsSnapshot:
        """What this instance publishes for its peers. `with_windows=False` leaves the windows out:
        the tick merges its own `figures()` as they are instead of encoding and decoding them."""
        figures = self.figures(now) if figures is None and with_windows else figures or {}
        return MetricsSnapshot(
            correlation_id=new_id(),
            instance_id=instance_id,
            partitions=partitions,
            windows=tuple(to_window_message(span, tally) for span, tally in figures.items()),
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


_REQUEST_FIELDS = operator.itemgetter("occurred_at", "method", "route", "status", "latency_ms", "bytes_out")


def _request_fields(rows: Sequence[Row]) -> list[tuple[Any, str, str, int, float, int]]:
    """What the fold reads of each row; optional fields a producer left out take their defaults."""
    try:
        return list(map(_REQUEST_FIELDS, rows))
    except KeyError:  # rare: the whole batch the slow way
        return [_with_defaults(row) for row in rows]


def _with_defaults(row: Row) -> tuple[Any, str, str, int, float, int]:
    method, route, status, latency_ms = row["method"], row["route"], row["status"], row["latency_ms"]
    return row.get("occurred_at"), method, route, status, latency_ms, row.get("bytes_out", 0)


@dataclass
class _RequestGroup:
    """Requests of one route in one second of a batch, waiting to be folded into the windows."""

    #: When the group's first request happened (None: not said, taken as now); its second is theirs.
    at: datetime | None
    method: str
    route: str
    statuses: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    bytes_out: int = 0


def _add_upload(figures: Tally, event: JobRequested) -> None:
    figures.uploads += 1
    figures.bytes_in += event.size_bytes


def _add_finished(figures: Tally, finished: JobFinished) -> None:
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


def _add_timing(figures: Tally, event: WorkTimed) -> None:
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


# --- A window's tally <-> the WindowFigures message of a snapshot -----------------------------------


def to_window_message(span_s: int, tally: Tally) -> WindowFigures:
    work = tally.work
    return to_wire(
        WindowFigures,
        tally,
        span_s=span_s,
        routes=tuple(
            to_wire(RouteFigures, route_tally, method=method, route=route)
            for (method, route), route_tally in sorted(tally.routes.items())
        ),
        clicks=tuple(LinkCount(link=link, clicks=n) for link, n in tally.clicks.most_common(TOP_LINKS)),
        workers=tuple(
            to_wire(WorkerFigures, worker, worker_id=worker_id)
            for worker_id, worker in sorted(tally.workers.items())
        ),
        work=to_wire(
            WorkTimings,
            work,
            workers=tuple(
                to_wire(WorkerTimings, worker, worker_id=worker_id)
                for worker_id, worker in sorted(work.workers.items())
            ),
        ),
        playback=playback_to_wire(tally.playback),
    )


def from_window_message(message: WindowFigures) -> Tally:
    work = message.work
    return from_wire(
        Tally,
        message,
        routes={(r.method, r.route): from_wire(RouteTally, r) for r in message.routes},
        clicks=Counter({link.link: link.clicks for link in message.clicks}),
        workers={w.worker_id: from_wire(WorkerTally, w) for w in message.workers},
        work=from_wire(
            WorkTally, work, workers={w.worker_id: from_wire(WorkerTimingTally, w) for w in work.workers}
        ),
        playback=playback_from_wire(message.playback),
    )
