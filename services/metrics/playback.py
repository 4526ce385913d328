"""Viewers' playback: beacons (`playback.events`) folded into windows, and the figures the summary shows.

What a video service's viewers feel (what Mux Data measures): how long a video takes to show its first
frame (startup time p50/p95), how much of the time they spent waiting instead of watching (rebuffering
ratio = stalled seconds / (watched + stalled seconds)), and how many playing sessions ended in an error
(error rate = errors / sessions started). Beacons carry what happened since the session's previous
beacon, so every figure here is a sum (or a sketch) that adds up across buckets and instances.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ddsketch import DDSketch
from prometheus_client.core import GaugeMetricFamily

from services.metrics.sketch import from_distribution, new_sketch, to_distribution
from services.metrics.summary import PlaybackSummary, Quantiles, VideoPlaybackSummary, WindowSummary
from shared.events import PlaybackFigures, PlaybackReported, VideoPlaybackFigures

#: Videos one bucket keeps figures of; beacons of further videos count site-wide only. Buckets
#: and windows are few, so this bounds the memory whatever the number of videos watched.
MAX_VIDEOS = 100
#: Videos each window of the summary lists: the most watched.
TOP_VIDEOS = 20


@dataclass
class PlaybackCounts:
    """Playback beacons of one video, or of all, in one bucket or window; travels as
    `VideoPlaybackFigures` (one video) or inside `PlaybackFigures` (all)."""

    beacons: int = 0
    sessions: int = 0
    startup_ms: DDSketch = field(default_factory=new_sketch)
    rebuffers: int = 0
    rebuffer_s: float = 0.0
    watched_s: float = 0.0
    errors: int = 0
    switches: int = 0

    def add(self, beacon: PlaybackReported) -> None:
        self.beacons += 1
        self.sessions += beacon.first
        if beacon.startup_ms is not None:
            self.startup_ms.add(beacon.startup_ms)
        self.rebuffers += beacon.rebuffers
        self.rebuffer_s += beacon.rebuffer_s
        self.watched_s += beacon.watched_s
        self.errors += beacon.errors
        self.switches += beacon.switches

    def merge(self, other: PlaybackCounts) -> None:
        self.beacons += other.beacons
        self.sessions += other.sessions
        if other.startup_ms.count:
            self.startup_ms.merge(other.startup_ms)
        self.rebuffers += other.rebuffers
        self.rebuffer_s += other.rebuffer_s
        self.watched_s += other.watched_s
        self.errors += other.errors
        self.switches += other.switches


@dataclass
class PlaybackTally(PlaybackCounts):
    """All beacons of a bucket or window, and (bounded) each video's own; travels as `PlaybackFigures`."""

    videos: dict[str, PlaybackCounts] = field(default_factory=dict)

    def add(self, beacon: PlaybackReported) -> None:
        super().add(beacon)
        video = self.videos.get(beacon.job_id)
        if video is None:
            if len(self.videos) >= MAX_VIDEOS:
                return
            video = self.videos[beacon.job_id] = PlaybackCounts()
        video.add(beacon)

    def merge(self, other: PlaybackCounts) -> None:
        super().merge(other)
        for job_id, counts in other.videos.items() if isinstance(other, PlaybackTally) else ():
            self.videos.setdefault(job_id, PlaybackCounts()).merge(counts)

    def most_watched(self, n: int) -> list[tuple[str, PlaybackCounts]]:
        """The `n` videos watched longest (then most sessions, then by id: a stable order)."""
        ranked = sorted(
            self.videos.items(), key=lambda item: (-item[1].watched_s, -item[1].sessions, item[0])
        )
        return ranked[:n]


def playback_to_wire(tally: PlaybackTally) -> PlaybackFigures:
    """The window's figures for peers: every video beyond the `MAX_VIDEOS` most watched is left out,
    so a snapshot stays small however many buckets the window merged."""
    videos = tuple(
        VideoPlaybackFigures(job_id=job_id, **_counts_to_wire(counts))
        for job_id, counts in tally.most_watched(MAX_VIDEOS)
    )
    return PlaybackFigures(**_counts_to_wire(tally), videos=videos)


def playback_from_wire(figures: PlaybackFigures) -> PlaybackTally:
    videos = {video.job_id: PlaybackCounts(**_counts_from_wire(video)) for video in figures.videos}
    return PlaybackTally(**_counts_from_wire(figures), videos=videos)


_COUNTS = tuple(spec.name for spec in fields(PlaybackCounts))


def _counts_to_wire(counts: PlaybackCounts) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(counts, name) for name in _COUNTS}
    values["startup_ms"] = to_distribution(counts.startup_ms)
    # Seconds travel rounded to the microsecond, like the windows' other sums.
    values["rebuffer_s"] = round(counts.rebuffer_s, 6)
    values["watched_s"] = round(counts.watched_s, 6)
    return values


def _counts_from_wire(figures: PlaybackFigures | VideoPlaybackFigures) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(figures, name) for name in _COUNTS}
    values["startup_ms"] = from_distribution(figures.startup_ms)
    return values


def summarise_playback(tally: PlaybackTally) -> PlaybackSummary:
    return PlaybackSummary(
        **_figures(tally),
        videos=[
            VideoPlaybackSummary(job_id=job_id, **_figures(counts))
            for job_id, counts in tally.most_watched(TOP_VIDEOS)
        ],
    )


def _figures(tally: PlaybackCounts) -> dict[str, Any]:
    waited = tally.watched_s + tally.rebuffer_s
    sessions = max(tally.sessions, tally.errors)
    return {
        "beacons": tally.beacons,
        "sessions": tally.sessions,
        "startup_ms": Quantiles.of(tally.startup_ms, digits=1),
        "rebuffers": tally.rebuffers,
        "rebuffer_seconds": round(tally.rebuffer_s, 3),
        "watched_seconds": round(tally.watched_s, 3),
        "rebuffer_ratio": round(tally.rebuffer_s / waited, 4) if waited > 0 else 0.0,
        "errors": tally.errors,
        "error_rate": round(min(1.0, tally.errors / sessions), 4) if sessions else 0.0,
        "switches": tally.switches,
    }


def playback_families(windows: Mapping[str, WindowSummary]) -> list[GaugeMetricFamily]:
    """The playback figures of each window as Prometheus gauges (the viewers dashboard reads them)."""
    startup = GaugeMetricFamily(
        "reencode_playback_startup_ms", "Load to first frame, quantiles", labels=["window", "quantile"]
    )
    sessions = GaugeMetricFamily("reencode_playback_sessions", "Playing sessions started", labels=["window"])
    rebuffer = GaugeMetricFamily(
        "reencode_playback_rebuffer_ratio", "Stalled over watched plus stalled seconds", labels=["window"]
    )
    errors = GaugeMetricFamily(
        "reencode_playback_error_rate", "Playing sessions that ended in an error", labels=["window"]
    )
    watched = GaugeMetricFamily(
        "reencode_playback_watched_seconds", "Seconds of video watched", labels=["window"]
    )
    for name, window in windows.items():
        playback = window.playback
        for quantile, value in playback.startup_ms:
            if value is not None:
                startup.add_metric([name, quantile], value)
        sessions.add_metric([name], playback.sessions)
        rebuffer.add_metric([name], playback.rebuffer_ratio)
        errors.add_metric([name], playback.error_rate)
        watched.add_metric([name], playback.watched_seconds)
    return [startup, sessions, rebuffer, errors, watched]
