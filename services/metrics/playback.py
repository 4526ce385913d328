"""Viewers' playback: beacons (`playback.events`) folded into windows, and the figures the summary shows.

What a video service's viewers feel (what Mux Data measures): how long a video takes to show its first
frame (startup time p50/p95), how much of the time they spent waiting instead of watching (rebuffering
ratio = stalled seconds / (watched + stalled seconds)), and how many playing sessions ended in an error
(error rate = errors / sessions started). Beacons carry what happened since the session's previous
beacon, so every figure here is a sum (or a sketch) that adds up across buckets and instances.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ddsketch import DDSketch
from prometheus_client.core import GaugeMetricFamily

from services.metrics.sketch import new_sketch
from services.metrics.summary import PlaybackSummary, Quantiles, WindowSummary
from shared.events import PlaybackReported


@dataclass
class PlaybackTally:
    """Playback beacons in one bucket or window; travels as `PlaybackFigures`."""

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

    def merge(self, other: PlaybackTally) -> None:
        self.beacons += other.beacons
        self.sessions += other.sessions
        if other.startup_ms.count:
            self.startup_ms.merge(other.startup_ms)
        self.rebuffers += other.rebuffers
        self.rebuffer_s += other.rebuffer_s
        self.watched_s += other.watched_s
        self.errors += other.errors
        self.switches += other.switches


def summarise_playback(tally: PlaybackTally) -> PlaybackSummary:
    waited = tally.watched_s + tally.rebuffer_s
    sessions = max(tally.sessions, tally.errors)
    return PlaybackSummary(
        beacons=tally.beacons,
        sessions=tally.sessions,
        startup_ms=Quantiles.of(tally.startup_ms, digits=1),
        rebuffers=tally.rebuffers,
        rebuffer_seconds=round(tally.rebuffer_s, 3),
        watched_seconds=round(tally.watched_s, 3),
        rebuffer_ratio=round(tally.rebuffer_s / waited, 4) if waited > 0 else 0.0,
        errors=tally.errors,
        error_rate=round(min(1.0, tally.errors / sessions), 4) if sessions else 0.0,
        switches=tally.switches,
    )


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
