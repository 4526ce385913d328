"""What a reencoder process exposes on its /metrics: work by outcome, time per phase, bytes, speed.

One `ReencoderMetrics` per process, held by the `TimingReporter` (which sees every finished piece of
work with its timer) and handed to the frame as `Wiring.registry`. Labels: `kind` is the `WorkKind`
(`image`, `video_rendition`, `video_preview`); `rung` is the rendition's name (`720p`), `previews`
for a preview task and `ladder` for an image job, whose sizes come out of one encode.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.events import WorkKind, WorkOutcome

if TYPE_CHECKING:
    from services.reencoder.timing import PhaseTimer

#: Seconds, from a thumbnail to a long 1080p rendition on a busy host.
SECONDS_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0)
#: Media seconds encoded per wall-clock second (ffmpeg's `speed=`): below 1 is slower than real time.
SPEED_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)

IMAGE_RUNG = "ladder"
PREVIEW_RUNG = "previews"


class ReencoderMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.finished = Counter(
            "reencode_work_finished",
            "Image jobs and video tasks this worker finished, by outcome",
            ["kind", "outcome"],
            registry=r,
        )
        self.given_up = Counter(
            "reencode_work_given_up",
            "Image jobs and video tasks failed after their retries ran out (an internal error)",
            ["kind"],
            registry=r,
        )
        self.encode_seconds = Histogram(
            "reencode_encode_seconds",
            "Seconds spent encoding one piece of work (download and upload not included)",
            ["kind", "rung"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.phase_seconds = Histogram(
            "reencode_phase_seconds",
            "Seconds spent downloading the original and uploading the outputs",
            ["kind", "phase"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "reencode_queue_wait_seconds",
            "Seconds between the request (upload, planned task) and a worker starting it",
            ["kind"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.in_progress = Gauge(
            "reencode_work_in_progress", "Jobs and tasks this worker is on now", ["kind"], registry=r
        )
        self.ffmpeg_speed = Histogram(
            "reencode_ffmpeg_speed",
            "Media seconds encoded per wall-clock second, per video rendition",
            ["rung"],
            buckets=SPEED_BUCKETS,
            registry=r,
        )
        self.bytes_in = Counter(
            "reencode_work_bytes_in", "Bytes of originals downloaded for work", ["kind"], registry=r
        )
        self.bytes_out = Counter(
            "reencode_work_bytes_out", "Bytes of outputs stored by work", ["kind"], registry=r
        )
        # Every kind and outcome from the start: a rate over a series that appears later misses its
        # first increment, and an alert over a missing series never fires.
        for kind in WorkKind:
            self.given_up.labels(kind.value)
            self.in_progress.labels(kind.value)
            self.bytes_in.labels(kind.value)
            self.bytes_out.labels(kind.value)
            for outcome in WorkOutcome:
                self.finished.labels(kind.value, outcome.value)

    def busy(self, kind: WorkKind) -> AbstractContextManager[None]:
        """`with metrics.busy(kind):` counts the work in progress while the block runs."""
        manager: AbstractContextManager[None] = self.in_progress.labels(kind.value).track_inprogress()
        return manager

    def record(
        self,
        kind: WorkKind,
        outcome: WorkOutcome,
        timer: PhaseTimer,
        *,
        rung: str,
        queue_wait_s: float,
        media_s: float = 0.0,
    ) -> None:
        """One finished piece of work: its outcome, phases, bytes and (video) encoding speed."""
        self.finished.labels(kind.value, outcome.value).inc()
        self.queue_wait.labels(kind.value).observe(queue_wait_s)
        self.bytes_in.labels(kind.value).inc(timer.bytes_in)
        self.bytes_out.labels(kind.value).inc(timer.bytes_out)
        for phase in ("download", "upload"):
            if phase in timer.seconds:
                self.phase_seconds.labels(kind.value, phase).observe(timer.seconds[phase])
        if outcome is not WorkOutcome.DONE:
            return  # a failed encode's time says little about encoding
        encode_s = timer.seconds.get("encode", 0.0)
        rung = rung or kind.value
        self.encode_seconds.labels(kind.value, rung).observe(encode_s)
        if kind is WorkKind.VIDEO_RENDITION and media_s > 0 and encode_s > 0:
            self.ffmpeg_speed.labels(rung).observe(media_s / encode_s)
