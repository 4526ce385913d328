"""Rolling windows over event time: the last 10 s, 1 min and 5 min, kept as time buckets.

Each window is a ring of buckets (1 s buckets for 10 s, 5 s for 1 min, 15 s for 5 min); an event lands
in the bucket of its `occurred_at`, so a replay after a restart fills the same buckets as the live
stream did. A window's figures are its buckets merged; buckets that fall out of the span are dropped,
which keeps memory bounded whatever the traffic.

The tallies here are the working form of the figures a snapshot carries (`shared.events`:
`WindowFigures`, `RouteFigures`, `WorkerFigures`, `WorkTimings`, `WorkerTimings`): mutable, with live
DDSketches that merge cheaply. Each tally's counters bear the names of its wire model's fields, so
`to_wire` and `from_wire` convert one into the other field by field.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

from ddsketch import DDSketch
from pydantic import BaseModel

from services.metrics.playback import PlaybackTally
from services.metrics.sketch import from_distribution, new_sketch, to_distribution
from shared.events import Distribution

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

#: (span, bucket width) in seconds. Coarser buckets for longer spans keep merging cheap.
WINDOWS: tuple[tuple[int, int], ...] = ((10, 1), (60, 5), (300, 15))

#: Seconds travel rounded to the microsecond: enough for any sum, and short JSON.
_DIGITS = 6


@dataclass
class RouteTally:
    """One route's requests; travels as `RouteFigures`."""

    requests: int = 0
    #: 5xx answers; 4xx are `client_errors`.
    errors: int = 0
    client_errors: int = 0
    bytes_out: int = 0
    latency_ms: DDSketch = field(default_factory=new_sketch)

    def merge(self, other: RouteTally) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.client_errors += other.client_errors
        self.bytes_out += other.bytes_out
        _merge_sketch(self.latency_ms, other.latency_ms)


@dataclass
class WorkerTally:
    """One worker's finished jobs as its job reports tell them; travels as `WorkerFigures`."""

    jobs: int = 0
    busy_s: float = 0.0

    def merge(self, other: WorkerTally) -> None:
        self.jobs += other.jobs
        self.busy_s += other.busy_s


@dataclass
class WorkerTimingTally:
    """One worker's timed work (from `WorkTimed`): units are image jobs and video tasks; travels as
    `WorkerTimings`."""

    units: int = 0
    busy_s: float = 0.0
    encode_s: float = 0.0
    bytes_in: int = 0
    bytes_out: int = 0

    def merge(self, other: WorkerTimingTally) -> None:
        self.units += other.units
        self.busy_s += other.busy_s
        self.encode_s += other.encode_s
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out


@dataclass
class WorkTally:
    """What the workers' own timing events say; kept apart from the figures derived from job reports,
    so the summary can prefer these wherever a worker reported. Travels as `WorkTimings`."""

    units: int = 0
    failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    download_s: float = 0.0
    upload_s: float = 0.0
    queue_wait_s: DDSketch = field(default_factory=new_sketch)
    encode_s: DDSketch = field(default_factory=new_sketch)
    workers: dict[str, WorkerTimingTally] = field(default_factory=dict)

    def worker(self, worker_id: str) -> WorkerTimingTally:
        tally = self.workers.get(worker_id)
        if tally is None:
            tally = self.workers[worker_id] = WorkerTimingTally()
        return tally

    def merge(self, other: WorkTally) -> None:
        self.units += other.units
        self.failed += other.failed
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.download_s += other.download_s
        self.upload_s += other.upload_s
        _merge_sketch(self.queue_wait_s, other.queue_wait_s)
        _merge_sketch(self.encode_s, other.encode_s)
        for worker_id, worker in other.workers.items():
            self.worker(worker_id).merge(worker)


@dataclass
class Tally:
    """What happened in one bucket, or (merged) in one whole window; travels as `WindowFigures`."""

    routes: dict[tuple[str, str], RouteTally] = field(default_factory=dict)
    clicks: Counter[str] = field(default_factory=Counter)
    uploads: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    queue_wait_s: DDSketch = field(default_factory=new_sketch)
    encode_s: DDSketch = field(default_factory=new_sketch)
    workers: dict[str, WorkerTally] = field(default_factory=dict)
    work: WorkTally = field(default_factory=WorkTally)
    playback: PlaybackTally = field(default_factory=PlaybackTally)

    def route(self, method: str, route: str) -> RouteTally:
        key = (method, route)
        tally = self.routes.get(key)
        if tally is None:
            tally = self.routes[key] = RouteTally()
        return tally

    def worker(self, worker_id: str) -> WorkerTally:
        tally = self.workers.get(worker_id)
        if tally is None:
            tally = self.workers[worker_id] = WorkerTally()
        return tally

    def merge(self, other: Tally) -> None:
        for (method, route), tally in other.routes.items():
            self.route(method, route).merge(tally)
        self.clicks.update(other.clicks)
        self.uploads += other.uploads
        self.jobs_done += other.jobs_done
        self.jobs_failed += other.jobs_failed
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        _merge_sketch(self.queue_wait_s, other.queue_wait_s)
        _merge_sketch(self.encode_s, other.encode_s)
        for worker_id, worker in other.workers.items():
            self.worker(worker_id).merge(worker)
        self.work.merge(other.work)
        self.playback.merge(other.playback)


def _merge_sketch(into: DDSketch, more: DDSketch) -> None:
    if more.count:
        into.merge(more)


# --- tallies <-> their wire models, field by field ------------------------------------------------


M = TypeVar("M", bound=BaseModel)
D = TypeVar("D", bound="DataclassInstance")


def to_wire(model: type[M], tally: DataclassInstance, **extra: Any) -> M:
    """`model` filled from the tally's counters and sketches of the same names, plus `extra`.

    Collections (routes, workers, clicks, work) are the caller's: they are passed in `extra`.
    """
    values: dict[str, object] = {}
    for name in model.model_fields.keys() - extra.keys():
        value = getattr(tally, name)
        if isinstance(value, DDSketch):
            value = to_distribution(value)
        elif isinstance(value, float):
            value = round(value, _DIGITS)
        values[name] = value
    return model.model_validate(values | extra)


def from_wire(tally: type[D], message: BaseModel, **extra: Any) -> D:
    """A tally from the wire model's fields of the same names, plus `extra` for its collections."""
    values: dict[str, Any] = {}
    for spec in fields(tally):
        if spec.name in extra or spec.name not in type(message).model_fields:
            continue
        value = getattr(message, spec.name)
        values[spec.name] = from_distribution(value) if isinstance(value, Distribution) else value
    return tally(**values, **extra)


class RollingWindow:
    """The last `span_s` seconds of figures, in buckets of `bucket_s` seconds."""

    def __init__(self, span_s: int, bucket_s: int) -> None:
        if span_s % bucket_s:
            raise ValueError("the span must be a whole number of buckets")
        self.span_s = span_s
        self.bucket_s = bucket_s
        self._buckets: dict[int, Tally] = {}

    def bucket(self, at: float, now: float) -> Tally | None:
        """The bucket for an event at `at` (epoch seconds), or None when it is older than the span."""
        index = math.floor(min(at, now) / self.bucket_s)
        if index <= self._oldest_index(now) - 1:
            return None
        tally = self._buckets.get(index)
        if tally is None:
            tally = self._buckets[index] = Tally()
            self._prune(now)
        return tally

    def figures(self, now: float) -> Tally:
        """Every live bucket merged (a fresh object: callers may keep it)."""
        self._prune(now)
        total = Tally()
        for tally in self._buckets.values():
            total.merge(tally)
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
