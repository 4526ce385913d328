"""Viewers' playback beacons: folded into windows, carried in snapshots, summarised site-wide."""

from __future__ import annotations

from services.metrics.aggregator import Aggregator
from services.metrics.playback import PlaybackTally, summarise_playback
from services.metrics.view import summarise
from shared.events import PLAYBACK_EVENTS, MetricsSnapshot, PlaybackReported


def beacon(session: str, **figures: object) -> PlaybackReported:
    return PlaybackReported(
        correlation_id="c", job_id="job-1", session_id=session, instance_id="frontend-1", **figures
    )


def test_startup_rebuffering_and_errors_add_up_across_beacons() -> None:
    tally = PlaybackTally()
    for n in range(1, 21):  # startup 100, 200, ... 2000 ms
        tally.add(beacon(f"s{n}", first=True, startup_ms=100.0 * n, watched_s=2.0))
    tally.add(beacon("s1", rebuffers=2, rebuffer_s=4.0, watched_s=3.0, switches=1))
    tally.add(beacon("failed", first=True, errors=1))

    summary = summarise_playback(tally)

    assert summary.sessions == 21
    assert summary.beacons == 22
    assert 990 <= (summary.startup_ms.p50 or 0) <= 1010  # DDSketch: within 1 %
    assert 1881 <= (summary.startup_ms.p95 or 0) <= 1919
    assert summary.watched_seconds == 43.0
    assert summary.rebuffers == 2
    assert summary.rebuffer_ratio == round(4.0 / 47.0, 4)
    assert summary.error_rate == round(1 / 21, 4)
    assert summary.switches == 1


def test_nothing_watched_reads_as_zeros_not_a_division_error() -> None:
    summary = summarise_playback(PlaybackTally())
    assert (summary.rebuffer_ratio, summary.error_rate, summary.startup_ms.p50) == (0.0, 0.0, None)


def test_errors_before_any_session_opened_never_exceed_a_rate_of_one() -> None:
    tally = PlaybackTally()
    tally.add(beacon("a", errors=2))
    assert summarise_playback(tally).error_rate == 1.0


def test_two_instances_snapshots_merge_into_the_site_wide_playback_figures() -> None:
    snapshots = []
    for instance, startup_ms in (("m1", 100.0), ("m2", 300.0)):
        aggregator = Aggregator()
        aggregator.observe(
            beacon(instance, first=True, startup_ms=startup_ms, watched_s=10.0, rebuffer_s=2.5)
        )
        own = aggregator.snapshot(instance, (f"{PLAYBACK_EVENTS.name}/{instance}",))
        # Through the wire form, as peers read it from metrics.snapshots.
        snapshots.append(MetricsSnapshot.model_validate_json(own.model_dump_json()))

    playback = summarise(snapshots).window(60).playback

    assert playback.sessions == 2
    assert playback.watched_seconds == 20.0
    assert playback.rebuffer_ratio == round(5.0 / 25.0, 4)
    assert 99 <= (playback.startup_ms.p50 or 0) <= 101


def test_a_snapshot_from_before_playback_existed_still_reads() -> None:
    old = MetricsSnapshot.model_validate(
        {"correlation_id": "c", "instance_id": "m", "windows": [{"span_s": 60}]}
    )
    assert summarise([old]).window(60).playback.sessions == 0
