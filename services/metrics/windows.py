"""Rolling windows over event time: the last 10 s, 1 min and 5 min, kept as time buckets.

Each window is a ring of buckets (1 s buckets for 10 s, 5 s for 1 min, 15 s for 5 min); an event lands
in the bucket of its `occurred_at`, so a replay after a restart fills the same buckets as the live
stream did. A window's figures are its buckets merged; buckets that fall out of the span are dropped,
which keeps memory bounded whatever the traffic.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from ddsketch import DDSketch

from services.metrics.sketch import new_sketch

#: (span, bucket width) in seconds. Coarser buckets for longer spans keep merging cheap.
WINDOWS: tuple[tuple[int, int], ...] = ((10, 1), (60, 5), (300, 15))


@dataclass
class RouteFigures:
    requests: int = 0
    errors: int = 0
    client_errors: int = 0
    bytes_out: int = 0
    latency_ms: DDSketch = field(default_factory=new_sketch)

    def merge(self, other: RouteFigures) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.client_errors += other.client_errors
        self.bytes_out += other.bytes_out
        if other.latency_ms.count:
            self.latency_ms.merge(other.latency_ms)


@dataclass
class WorkerFigures:
    jobs: int = 0
    busy_s: float = 0.0

    def merge(self, other: WorkerFigures) -> None:
        self.jobs += other.jobs
        self.busy_s += other.busy_s


@dataclass
class WorkerTimingFigures:
    """One worker's timed work (from `WorkTimed`): units are image jobs and video tasks."""

    units: int = 0
    busy_s: float = 0.0
    encode_s: float = 0.0
    bytes_in: int = 0
    bytes_out: int = 0

    def merge(self, other: WorkerTimingFigures) -> None:
        self.units += other.units
        self.busy_s += other.busy_s
        self.encode_s += other.encode_s
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out


@dataclass
class WorkTimingFigures:
    """What the workers' own timing events say; kept apart from the figures derived from job reports,
    so the summary can prefer these wherever a worker reported."""

    units: int = 0
    failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    download_s: float = 0.0
    upload_s: float = 0.0
    queue_wait_s: DDSketch = field(default_factory=new_sketch)
    encode_s: DDSketch = field(default_factory=new_sketch)
    workers: dict[str, WorkerTimingFigures] = field(default_factory=dict)

    def worker(self, worker_id: str) -> WorkerTimingFigures:
        figures = self.workers.get(worker_id)
        if figures is None:
            figures = self.workers[worker_id] = WorkerTimingFigures()
        return figures

    def merge(self, other: WorkTimingFigures) -> None:
        self.units += other.units
        self.failed += other.failed
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.download_s += other.download_s
        self.upload_s += other.upload_s
        for sketch, more in ((self.queue_wait_s, other.queue_wait_s), (self.encode_s, other.encode_s)):
            if more.count:
                sketch.merge(more)
        for worker_id, worker in other.workers.items():
            self.worker(worker_id).merge(worker)


@dataclass
class Figures:
    """What happened in one bucket, or (merged) in one whole window."""

    routes: dict[tuple[str, str], RouteFigures] = field(default_factory=dict)
    clicks: Counter[str] = field(default_factory=Counter)
    uploads: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    queue_wait_s: DDSketch = field(default_factory=new_sketch)
    encode_s: DDSketch = field(default_factory=new_sketch)
    workers: dict[str, WorkerFigures] = field(default_factory=dict)
    work: WorkTimingFigures = field(default_factory=WorkTimingFigures)

    def route(self, method: str, route: str) -> RouteFigures:
        key = (method, route)
        figures = self.routes.get(key)
        if figures is None:
            figures = self.routes[key] = RouteFigures()
        return figures

    def worker(self, worker_id: str) -> WorkerFigures:
        figures = self.workers.get(worker_id)
        if figures is None:
            figures = self.workers[worker_id] = WorkerFigures()
        return figures

    def merge(self, other: Figures) -> None:
        for (method, route), figures in other.routes.items():
            self.route(method, route).merge(figures)
        self.clicks.update(other.clicks)
        self.uploads += other.uploads
        self.jobs_done += other.jobs_done
        self.jobs_failed += other.jobs_failed
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        for sketch, more in ((self.queue_wait_s, other.queue_wait_s), (self.encode_s, other.encode_s)):
            if more.count:
                sketch.merge(more)
        for worker_id, worker in other.workers.items():
            self.worker(worker_id).merge(worker)
        self.work.merge(other.work)


class RollingWindow:
    """The last `span_s` seconds of figures, in buckets of `bucket_s` seconds."""

    def __init__(self, span_s: int, bucket_s: int) -> None:
        if span_s % bucket_s:
            raise ValueError("the span must be a whole number of buckets")
        self.span_s = span_s
        self.bucket_s = bucket_s
        self._buckets: dict[int, Figures] = {}

    def bucket(self, at: float, now: float) -> Figures | None:
        """The bucket for an event at `at` (epoch seconds), or None when it is older than the span."""
        index = math.floor(min(at, now) / self.bucket_s)
        if index <= self._oldest_index(now) - 1:
            return None
        figures = self._buckets.get(index)
        if figures is None:
            figures = self._buckets[index] = Figures()
            self._prune(now)
        return figures

    def figures(self, now: float) -> Figures:
        """Every live bucket merged (a fresh object: callers may keep it)."""
        self._prune(now)
        total = Figures()
        for figures in self._buckets.values():
            total.merge(figures)
        return total

    def clear(self) -> None:
        self._buckets.clear()

    def _oldest_index(self, now: float) -> int:
        # The current bucket and the ones before it, `span / bucket` in all.
        return math.floor(now / self.bucket_s) - self.span_s // self.bucket_s + 1

    def _prune(self, now: float) -> None:
        oldest = self._oldest_index(now)
        for index in [i for i in self._buckets if i < oldest]:
            del self._buckets[index]
