"""The site-wide view: the latest snapshot of every live metrics instance, merged, as the API shows it.

Each instance owns some partitions and publishes what it saw on them; adding the partial figures
(counts add, sketches merge) gives the same figures one instance reading everything would have. A
snapshot counts while it is fresh; if two live snapshots claim the same partition (just after a
rebalance, before the old owner's last snapshot goes stale) only the newer one counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from services.metrics.aggregator import from_window_message
from services.metrics.playback import summarise_playback
from services.metrics.summary import (
    ActiveAlert,
    JobBacklog,
    JobsFinished,
    MetricsSummary,
    Quantiles,
    RouteSummary,
    WindowSummary,
    WorkerSummary,
    WorkSummary,
    window_name,
)
from services.metrics.windows import WINDOWS, RouteTally, Tally, WorkTally
from shared.events import LinkCount, MetricsSnapshot, utc_now

#: A peer's snapshot older than this no longer counts (it stopped, or lost its partitions).
STALE_AFTER_S = 8.0


class PeerSnapshots:
    """The newest snapshot each other metrics instance published on `metrics.snapshots`."""

    def __init__(self, own_instance: str) -> None:
        self._own = own_instance
        self._latest: dict[str, MetricsSnapshot] = {}

    def add(self, snapshot: MetricsSnapshot) -> None:
        if snapshot.instance_id == self._own:
            return
        known = self._latest.get(snapshot.instance_id)
        if known is None or known.occurred_at <= snapshot.occurred_at:
            self._latest[snapshot.instance_id] = snapshot

    def live(self, own: MetricsSnapshot, now: datetime | None = None) -> list[MetricsSnapshot]:
        """`own` and every fresh peer snapshot, newest first, none claiming a partition twice."""
        now = now or utc_now()
        fresh = [s for s in self._latest.values() if (now - s.occurred_at).total_seconds() <= STALE_AFTER_S]
        chosen: list[MetricsSnapshot] = []
        claimed: set[str] = set()
        for snapshot in sorted([own, *fresh], key=lambda s: s.occurred_at, reverse=True):
            if claimed.intersection(snapshot.partitions):
                continue
            claimed.update(snapshot.partitions)
            chosen.append(snapshot)
        return chosen


def merge_windows(
    snapshots: list[MetricsSnapshot], local: Mapping[int, Tally] | None = None
) -> dict[int, Tally]:
    """Span -> the tallies of every snapshot's window of that span, plus `local`'s, added up."""
    # Every span is present even before the first snapshot, so readers need no special case.
    merged: dict[int, Tally] = {span: Tally() for span, _ in WINDOWS}
    for snapshot in snapshots:
        for window in snapshot.windows:
            merged.setdefault(window.span_s, Tally()).merge(from_window_message(window))
    for span, tally in (local or {}).items():
        merged.setdefault(span, Tally()).merge(tally)
    return merged


def summarise(
    snapshots: list[MetricsSnapshot],
    alerts: Sequence[ActiveAlert] = (),
    local: Mapping[int, Tally] | None = None,
) -> MetricsSummary:
    """The site-wide summary of the live instances' snapshots.

    `local`: this instance's own figures, merged as they are (its snapshot among `snapshots` then
    carries no windows): encoding them to protobuf and back every tick was most of an idle
    instance's work.
    """
    windows = merge_windows(snapshots, local)
    now = utc_now()
    return MetricsSummary(
        generated_at=now,
        at=now.timestamp(),
        instances=sorted(s.instance_id for s in snapshots),
        jobs=JobBacklog(
            queued=sum(s.jobs_queued for s in snapshots),
            processing=sum(s.jobs_processing for s in snapshots),
        ),
        windows={window_name(span): summarise_window(span, tally) for span, tally in sorted(windows.items())},
        alerts=list(alerts),
    )


def summarise_window(span_s: int, tally: Tally) -> WindowSummary:
    overall = RouteTally()
    for route_tally in tally.routes.values():
        overall.merge(route_tally)
    requests, errors = overall.requests, overall.errors
    finished = tally.jobs_done + tally.jobs_failed
    # Where workers reported their own timings (metrics.work), those count; the figures derived from
    # job reports are the fallback (workers that publish no timings, or a window before they did).
    work = tally.work
    timed = work.units > 0
    encode_s = work.encode_s if timed else tally.encode_s
    queue_wait_s = work.queue_wait_s if timed else tally.queue_wait_s
    encode_total_s = encode_s.sum if encode_s.count else 0.0
    written = work.bytes_out if timed else tally.bytes_out
    routes = [
        RouteSummary(
            method=method,
            route=route,
            requests=r.requests,
            rate_per_s=round(r.requests / span_s, 3),
            errors=r.errors,
            error_ratio=round(r.errors / r.requests, 4) if r.requests else 0.0,
            bytes_out=r.bytes_out,
            latency_ms=Quantiles.of(r.latency_ms),
        )
        for (method, route), r in tally.routes.items()
    ]
    return WindowSummary(
        span_s=span_s,
        requests=requests,
        rate_per_s=round(requests / span_s, 3),
        errors=errors,
        client_errors=overall.client_errors,
        error_ratio=round(errors / requests, 4) if requests else 0.0,
        latency_ms=Quantiles.of(overall.latency_ms),
        routes=sorted(routes, key=lambda r: -r.requests),
        uploads=tally.uploads,
        uploads_per_min=round(tally.uploads * 60 / span_s, 2),
        jobs=JobsFinished(
            done=tally.jobs_done,
            failed=tally.jobs_failed,
            finished_per_min=round(finished * 60 / span_s, 2),
        ),
        bytes_in=tally.bytes_in,
        bytes_out=tally.bytes_out,
        encode_bytes_per_s=round(written / span_s, 1),
        encode_s=Quantiles.of(encode_s, digits=3),
        encode_seconds_total=round(encode_total_s, 3),
        queue_wait_s=Quantiles.of(queue_wait_s, digits=3),
        timings_from="workers" if timed else "job_reports",
        workers=summarise_workers(span_s, tally),
        work=summarise_work(work),
        top_links=[LinkCount(link=link, clicks=n) for link, n in tally.clicks.most_common(10)],
        playback=summarise_playback(tally.playback),
    )


def summarise_workers(span_s: int, tally: Tally) -> list[WorkerSummary]:
    """Every worker seen in the window; busy time from its own timings when it sent any."""
    rows = []
    for worker_id in sorted(set(tally.workers) | set(tally.work.workers)):
        derived = tally.workers.get(worker_id)
        timed = tally.work.workers.get(worker_id)
        busy_s = timed.busy_s if timed is not None else derived.busy_s if derived is not None else 0.0
        rows.append(
            WorkerSummary(
                worker_id=worker_id,
                jobs=derived.jobs if derived is not None else 0,
                busy_s=round(busy_s, 3),
                utilisation=round(min(1.0, busy_s / span_s), 6),
                units=timed.units if timed is not None else 0,
                bytes_in=timed.bytes_in if timed is not None else 0,
                bytes_out=timed.bytes_out if timed is not None else 0,
                encode_bytes_per_s=_per_second(timed.bytes_in, timed.encode_s) if timed else None,
            )
        )
    return rows


def summarise_work(work: WorkTally) -> WorkSummary:
    """The workers' own timings of the window, whole (image jobs and video tasks alike)."""
    encode_total_s = work.encode_s.sum if work.encode_s.count else 0.0
    return WorkSummary(
        units=work.units,
        failed=work.failed,
        bytes_in=work.bytes_in,
        bytes_out=work.bytes_out,
        download_seconds_total=round(work.download_s, 3),
        encode_seconds_total=round(encode_total_s, 3),
        upload_seconds_total=round(work.upload_s, 3),
        encode_bytes_per_s=_per_second(work.bytes_in, encode_total_s),
        queue_wait_s=Quantiles.of(work.queue_wait_s, digits=3),
        encode_s=Quantiles.of(work.encode_s, digits=3),
    )


def _per_second(amount: int, seconds: float) -> float | None:
    return round(amount / seconds, 1) if seconds > 0 else None
