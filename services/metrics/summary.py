"""The site-wide summary as the API serves it: `GET /api/metrics/summary`, the live stream, the rules.

Built by `view.summarise` from the merged snapshots; the alert rules read its fields, the dashboard
reads its JSON. Figures default to zero so that an empty window (no traffic yet) is a plain instance.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from ddsketch import DDSketch
from pydantic import BaseModel, ConfigDict, Field

from services.metrics.sketch import quantiles
from shared.events import Alert, LinkCount, utc_now


class _Figures(BaseModel):
    model_config = ConfigDict(frozen=True)


class Quantiles(_Figures):
    """p50, p95 and p99 of a DDSketch (within 1 %); None while the window saw nothing."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None

    @classmethod
    def of(cls, sketch: DDSketch, digits: int = 2) -> Quantiles:
        return cls.model_validate(quantiles(sketch, digits))


class RouteSummary(_Figures):
    method: str
    route: str
    requests: int = 0
    rate_per_s: float = 0.0
    #: 5xx answers (the server's fault).
    errors: int = 0
    error_ratio: float = 0.0
    bytes_out: int = 0
    latency_ms: Quantiles = Quantiles()


class JobsFinished(_Figures):
    """Jobs that reached a final state inside the window."""

    done: int = 0
    failed: int = 0
    finished_per_min: float = 0.0


class WorkerSummary(_Figures):
    """One worker seen in the window; busy time from its own timings when it sent any."""

    worker_id: str
    #: Jobs this worker finished (reported done or failed), from the job reports.
    jobs: int = 0
    busy_s: float = 0.0
    #: Share of the window spent working (busy_s / span), at most 1.
    utilisation: float = 0.0
    #: From its timings: image jobs and video tasks, bytes, and how fast it encodes.
    units: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    encode_bytes_per_s: float | None = None


class WorkSummary(_Figures):
    """The workers' own timings of the window, whole (image jobs and video tasks alike)."""

    units: int = 0
    failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    download_seconds_total: float = 0.0
    encode_seconds_total: float = 0.0
    upload_seconds_total: float = 0.0
    #: Source bytes encoded per second of encoding: the encoders' speed, whatever the traffic.
    encode_bytes_per_s: float | None = None
    queue_wait_s: Quantiles = Quantiles()
    encode_s: Quantiles = Quantiles()


class VideoPlaybackSummary(_Figures):
    """What viewers of one video experienced in a window (the same figures as `PlaybackSummary`)."""

    job_id: str
    beacons: int = 0
    sessions: int = 0
    startup_ms: Quantiles = Quantiles()
    rebuffers: int = 0
    rebuffer_seconds: float = 0.0
    watched_seconds: float = 0.0
    rebuffer_ratio: float = 0.0
    errors: int = 0
    error_rate: float = 0.0
    switches: int = 0


class PlaybackSummary(_Figures):
    """What viewers experienced in a window, site-wide."""

    beacons: int = 0
    sessions: int = 0
    #: Load to first frame, over the sessions that reached it.
    startup_ms: Quantiles = Quantiles()
    rebuffers: int = 0
    rebuffer_seconds: float = 0.0
    watched_seconds: float = 0.0
    #: Stalled seconds over watched plus stalled seconds (0 with nothing watched).
    rebuffer_ratio: float = 0.0
    errors: int = 0
    #: Errors over sessions started (a session that failed before its first beacon counts as one).
    error_rate: float = 0.0
    switches: int = 0
    #: The most watched videos of the window (at most `playback.TOP_VIDEOS`), most watched first.
    videos: list[VideoPlaybackSummary] = []


class WindowSummary(_Figures):
    """Everything the site did in the last `span_s` seconds, every live instance's share added up."""

    span_s: int
    requests: int = 0
    rate_per_s: float = 0.0
    errors: int = 0
    client_errors: int = 0
    error_ratio: float = 0.0
    latency_ms: Quantiles = Quantiles()
    #: Busiest first.
    routes: list[RouteSummary] = []
    uploads: int = 0
    uploads_per_min: float = 0.0
    jobs: JobsFinished = JobsFinished()
    bytes_in: int = 0
    bytes_out: int = 0
    #: Rendition bytes written per second of the window.
    encode_bytes_per_s: float = 0.0
    encode_s: Quantiles = Quantiles()
    encode_seconds_total: float = 0.0
    queue_wait_s: Quantiles = Quantiles()
    #: Where `encode_s` and `queue_wait_s` come from: the workers' timings, else the job reports.
    timings_from: Literal["workers", "job_reports"] = "job_reports"
    workers: list[WorkerSummary] = []
    work: WorkSummary = WorkSummary()
    top_links: list[LinkCount] = []
    #: Viewers' playback (services/metrics/playback.py).
    playback: PlaybackSummary = PlaybackSummary()


class JobBacklog(_Figures):
    """Jobs waiting or being encoded now, site-wide."""

    queued: int = 0
    processing: int = 0


class ActiveAlert(Alert):
    """An alert the metrics rules hold raised, with the figure that raised it."""

    #: The figure's last reading, its baseline and the level it must exceed (None before any reading).
    value: float | None = None
    baseline: float | None = None
    threshold: float | None = None


class MetricsSummary(_Figures):
    """The JSON of `GET /api/metrics/summary` and of each event of the live stream."""

    generated_at: datetime = Field(default_factory=utc_now)
    #: `generated_at` in epoch seconds (the dashboard's charts use it).
    at: float = 0.0
    #: The metrics instances whose snapshots are added up here.
    instances: list[str] = []
    jobs: JobBacklog = JobBacklog()
    #: Keyed by span: `10s`, `60s`, `300s`.
    windows: dict[str, WindowSummary] = {}
    alerts: list[ActiveAlert] = []

    def window(self, span_s: int) -> WindowSummary:
        """The window of `span_s` seconds (an empty one if the summary has none)."""
        return self.windows.get(window_name(span_s)) or WindowSummary(span_s=span_s)


def window_name(span_s: int) -> str:
    return f"{span_s}s"
