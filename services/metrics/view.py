"""The site-wide view: the latest snapshot of every live metrics instance, merged, as the API shows it.

Each instance owns some partitions and publishes what it saw on them; adding the partial figures
(counts add, sketches merge) gives the same figures one instance reading everything would have. A
snapshot counts while it is fresh; if two live snapshots claim the same partition (just after a
rebalance, before the old owner's last snapshot goes stale) only the newer one counts.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from services.metrics.aggregator import from_window_message
from services.metrics.sketch import quantiles
from services.metrics.windows import WINDOWS, Figures, RouteFigures, WorkTimingFigures
from shared.events import MetricsSnapshot, utc_now

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


def merge_windows(snapshots: list[MetricsSnapshot]) -> dict[int, Figures]:
    """Span -> the figures of every snapshot's window of that span, added up."""
    # Every span is present even before the first snapshot, so readers need no special case.
    merged: dict[int, Figures] = {span: Figures() for span, _ in WINDOWS}
    for snapshot in snapshots:
        for window in snapshot.windows:
            merged.setdefault(window.span_s, Figures()).merge(from_window_message(window))
    return merged


def summarise(snapshots: list[MetricsSnapshot], alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON of `GET /api/metrics/summary` and of each event of the live stream."""
    windows = merge_windows(snapshots)
    return {
        "generated_at": utc_now().isoformat(),
        "at": time.time(),
        "instances": sorted(s.instance_id for s in snapshots),
        "jobs": {
            "queued": sum(s.jobs_queued for s in snapshots),
            "processing": sum(s.jobs_processing for s in snapshots),
        },
        "windows": {f"{span}s": summarise_window(span, figures) for span, figures in sorted(windows.items())},
        "alerts": alerts,
    }


def summarise_window(span_s: int, figures: Figures) -> dict[str, Any]:
    overall = RouteFigures()
    for route_figures in figures.routes.values():
        overall.merge(route_figures)
    requests, errors = overall.requests, overall.errors
    finished = figures.jobs_done + figures.jobs_failed
    # Where workers reported their own timings (metrics.work), those count; the figures derived from
    # job reports are the fallback (workers that publish no timings, or a window before they did).
    work = figures.work
    timed = work.units > 0
    encode_s = work.encode_s if timed else figures.encode_s
    queue_wait_s = work.queue_wait_s if timed else figures.queue_wait_s
    encode_total_s = encode_s.sum if encode_s.count else 0.0
    written = work.bytes_out if timed else figures.bytes_out
    return {
        "span_s": span_s,
        "requests": requests,
        "rate_per_s": round(requests / span_s, 3),
        "errors": errors,
        "client_errors": overall.client_errors,
        "error_ratio": round(errors / requests, 4) if requests else 0.0,
        "latency_ms": quantiles(overall.latency_ms),
        "routes": sorted(
            (
                {
                    "method": method,
                    "route": route,
                    "requests": r.requests,
                    "rate_per_s": round(r.requests / span_s, 3),
                    "errors": r.errors,
                    "error_ratio": round(r.errors / r.requests, 4) if r.requests else 0.0,
                    "bytes_out": r.bytes_out,
                    "latency_ms": quantiles(r.latency_ms),
                }
                for (method, route), r in figures.routes.items()
            ),
            key=lambda r: -int(r["requests"]),
        ),
        "uploads": figures.uploads,
        "uploads_per_min": round(figures.uploads * 60 / span_s, 2),
        "jobs": {
            "done": figures.jobs_done,
            "failed": figures.jobs_failed,
            "finished_per_min": round(finished * 60 / span_s, 2),
        },
        "bytes_in": figures.bytes_in,
        "bytes_out": figures.bytes_out,
        # Encode throughput: rendition bytes written per second of the window.
        "encode_bytes_per_s": round(written / span_s, 1),
        "encode_s": quantiles(encode_s, digits=3),
        "encode_seconds_total": round(encode_total_s, 3),
        "queue_wait_s": quantiles(queue_wait_s, digits=3),
        "timings_from": "workers" if timed else "job_reports",
        "workers": summarise_workers(span_s, figures),
        "work": summarise_work(work),
        "top_links": [{"link": link, "clicks": n} for link, n in figures.clicks.most_common(10)],
    }


def summarise_workers(span_s: int, figures: Figures) -> list[dict[str, Any]]:
    """Every worker seen in the window; busy time from its own timings when it sent any."""
    rows = []
    for worker_id in sorted(set(figures.workers) | set(figures.work.workers)):
        derived = figures.workers.get(worker_id)
        timed = figures.work.workers.get(worker_id)
        busy_s = timed.busy_s if timed is not None else derived.busy_s if derived is not None else 0.0
        rows.append(
            {
                "worker_id": worker_id,
                # Jobs this worker finished (reported done or failed), as before timings existed.
                "jobs": derived.jobs if derived is not None else 0,
                "busy_s": round(busy_s, 3),
                "utilisation": round(min(1.0, busy_s / span_s), 3),
                # From its timings: image jobs and video tasks, bytes, and how fast it encodes.
                "units": timed.units if timed is not None else 0,
                "bytes_in": timed.bytes_in if timed is not None else 0,
                "bytes_out": timed.bytes_out if timed is not None else 0,
                "encode_bytes_per_s": _per_second(timed.bytes_in, timed.encode_s) if timed else None,
            }
        )
    return rows


def summarise_work(work: WorkTimingFigures) -> dict[str, Any]:
    """The workers' own timings of the window, whole (image jobs and video tasks alike)."""
    encode_total_s = work.encode_s.sum if work.encode_s.count else 0.0
    return {
        "units": work.units,
        "failed": work.failed,
        "bytes_in": work.bytes_in,
        "bytes_out": work.bytes_out,
        "download_seconds_total": round(work.download_s, 3),
        "encode_seconds_total": round(encode_total_s, 3),
        "upload_seconds_total": round(work.upload_s, 3),
        # Source bytes encoded per second of encoding: the encoders' speed, whatever the traffic.
        "encode_bytes_per_s": _per_second(work.bytes_in, encode_total_s),
        "queue_wait_s": quantiles(work.queue_wait_s, digits=3),
        "encode_s": quantiles(work.encode_s, digits=3),
    }


def _per_second(amount: int, seconds: float) -> float | None:
    return round(amount / seconds, 1) if seconds > 0 else None
