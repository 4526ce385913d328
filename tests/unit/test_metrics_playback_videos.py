"""Per-video playback figures: each video's own startup, rebuffering, errors and watch time, bounded."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from services.metrics import playback
from services.metrics.aggregator import Aggregator
from services.metrics.playback import PlaybackTally, summarise_playback
from services.metrics.view import summarise
from shared.events import PLAYBACK_EVENTS, MetricsSnapshot, PlaybackReported


def beacon(job_id: str, session: str, **figures: object) -> PlaybackReported:
    return PlaybackReported(
        correlation_id="c", job_id=job_id, session_id=session, instance_id="frontend-1", **figures
    )


def test_each_video_has_its_own_startup_rebuffering_errors_and_watch_time() -> None:
    tally = PlaybackTally()
    tally.add(beacon("fast", "a", first=True, startup_ms=100.0, watched_s=30.0))
    tally.add(beacon("slow", "b", first=True, startup_ms=2000.0, watched_s=6.0, rebuffer_s=2.0, rebuffers=1))
    tally.add(beacon("slow", "c", first=True, errors=1))

    summary = summarise_playback(tally)
    fast, slow = summary.videos

    assert (fast.job_id, slow.job_id) == ("fast", "slow")  # most watched first
    assert 99 <= (fast.startup_ms.p50 or 0) <= 101
    assert (fast.watched_seconds, fast.rebuffer_ratio, fast.error_rate) == (30.0, 0.0, 0.0)
    assert 1980 <= (slow.startup_ms.p95 or 0) <= 2020
    assert (slow.sessions, slow.rebuffers, slow.rebuffer_ratio) == (2, 1, 0.25)
    assert slow.error_rate == 0.5
    assert summary.sessions == 3  # the site-wide figures still count everything


def test_a_bucket_keeps_at_most_max_videos_and_still_counts_the_rest_site_wide() -> None:
    tally = PlaybackTally()
    for n in range(playback.MAX_VIDEOS + 50):
        tally.add(beacon(f"job-{n}", "s", first=True, watched_s=1.0))

    assert len(tally.videos) == playback.MAX_VIDEOS
    summary = summarise_playback(tally)
    assert summary.sessions == playback.MAX_VIDEOS + 50
    assert len(summary.videos) == playback.TOP_VIDEOS


def test_the_summary_lists_the_most_watched_videos() -> None:
    tally = PlaybackTally()
    for n in range(playback.TOP_VIDEOS + 5):
        tally.add(beacon(f"job-{n:02}", "s", first=True, watched_s=float(n)))

    listed = [video.job_id for video in summarise_playback(tally).videos]

    assert listed == [f"job-{n:02}" for n in range(playback.TOP_VIDEOS + 4, 4, -1)]


def test_two_instances_figures_for_one_video_merge_through_their_snapshots() -> None:
    snapshots = []
    for instance, startups in (("m1", (100.0, 200.0)), ("m2", (300.0,))):
        aggregator = Aggregator()
        for n, startup_ms in enumerate(startups):
            aggregator.observe(
                beacon("shared-video", f"{instance}-{n}", first=True, startup_ms=startup_ms, watched_s=5.0)
            )
        aggregator.observe(beacon(f"only-{instance}", instance, first=True, watched_s=1.0))
        own = aggregator.snapshot(instance, (f"{PLAYBACK_EVENTS.name}/{instance}",))
        snapshots.append(MetricsSnapshot.model_validate_json(own.model_dump_json()))

    videos = {video.job_id: video for video in summarise(snapshots).window(60).playback.videos}

    assert set(videos) == {"shared-video", "only-m1", "only-m2"}
    shared = videos["shared-video"]
    assert (shared.sessions, shared.watched_seconds) == (3, 15.0)
    assert 198 <= (shared.startup_ms.p50 or 0) <= 202  # needs both instances' sketches


def test_a_snapshot_carries_at_most_max_videos() -> None:
    aggregator = Aggregator()
    now = time.time()
    for n in range(playback.MAX_VIDEOS * 2):
        # Spread over the last 40 s: each bucket stays under the bound, the merged minute does not.
        at = datetime.fromtimestamp(now - n * 40 / (playback.MAX_VIDEOS * 2), UTC)
        aggregator.observe(beacon(f"job-{n}", "s", first=True, watched_s=1.0, occurred_at=at), now)
    own = aggregator.snapshot("m1", (f"{PLAYBACK_EVENTS.name}/m1",))

    minute = next(window for window in own.windows if window.span_s == 60)
    assert minute.playback.sessions == playback.MAX_VIDEOS * 2
    assert len(minute.playback.videos) == playback.MAX_VIDEOS
