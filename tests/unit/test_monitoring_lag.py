"""The lag evaluator judges trends, as Burrow does: stuck only when lag stays while nothing commits
and no member reports progress on the work in hand."""

from __future__ import annotations

import time
from datetime import timedelta

from services.monitoring.kafka_cluster import KafkaWatcher
from services.monitoring.lag import LagEvaluator, LagStatus, OffsetSample, PartitionKey, judge
from services.monitoring.monitor import Monitor
from services.monitoring.settings import MonitoringSettings
from shared.events import VideoTaskProgress, utc_now
from shared.kafka.cluster import GroupMember, GroupView, PartitionLag
from shared.settings import DatabaseSettings, KafkaSettings, StorageSettings

WINDOW = 30.0


def samples(*points: tuple[float, int, int]) -> list[OffsetSample]:
    return [OffsetSample(at, committed, end) for at, committed, end in points]


def test_lag_that_grows_while_nothing_commits_is_stuck() -> None:
    assert judge(samples((0, 10, 12), (15, 10, 20), (30, 10, 31)), WINDOW) is LagStatus.STUCK


def test_constant_lag_on_an_abandoned_group_is_stuck() -> None:
    assert judge(samples((0, 10, 15), (15, 10, 15), (30, 10, 15)), WINDOW) is LagStatus.STUCK


def test_lag_a_working_group_drains_is_ok() -> None:
    assert judge(samples((0, 10, 50), (15, 30, 55), (30, 50, 56)), WINDOW) is LagStatus.OK


def test_lag_that_touched_zero_in_the_window_is_ok() -> None:
    assert judge(samples((0, 10, 10), (15, 10, 14), (30, 10, 20)), WINDOW) is LagStatus.OK


def test_committing_but_falling_further_behind_is_behind_not_stuck() -> None:
    assert judge(samples((0, 10, 20), (15, 12, 30), (30, 14, 45)), WINDOW) is LagStatus.BEHIND


def test_no_verdict_before_the_window_is_covered() -> None:
    assert judge(samples((0, 10, 20), (5, 10, 25), (10, 10, 30)), WINDOW) is LagStatus.OK
    assert judge(samples((0, 10, 20), (40, 10, 25)), WINDOW) is LagStatus.OK  # too few samples


def test_a_commit_past_the_end_is_no_negative_lag() -> None:
    assert OffsetSample(0, 12, 10).lag == 0


def test_evaluator_keeps_only_the_window_and_clears_when_the_group_commits() -> None:
    lag = LagEvaluator(window_s=WINDOW, min_samples=3)
    key = ("workers", "jobs", 0)
    for at in range(0, 61, 10):
        lag.observe(key, OffsetSample(at, 5, 5 + at))
    assert lag.status(key) is LagStatus.STUCK
    assert lag.stuck_for_s(key) == 60
    lag.observe(key, OffsetSample(70, 75, 75))  # the consumer caught up and committed
    assert lag.status(key) is LagStatus.OK
    assert lag.stuck_for_s(key) == 0


def test_evaluator_forgets_partitions_no_longer_seen() -> None:
    lag = LagEvaluator(window_s=WINDOW)
    lag.observe(("gone", "jobs", 0), OffsetSample(0, 0, 9))
    lag.forget_except(set())
    assert lag.stuck_for_s(("gone", "jobs", 0)) == 0


# --- busy, not stuck: a long task in hand reports progress --------------------------------------------

TASKS = ("reencoder.video-tasks", "video.tasks", 3)


def stuck_for_a_window(lag: LagEvaluator, key: PartitionKey = TASKS) -> None:
    """Lag above zero and no commit from 0 s to 60 s (two windows)."""
    for at in range(0, 61, 10):
        lag.observe(key, OffsetSample(at, 5, 6))


def test_a_partition_whose_member_reports_progress_is_busy_not_stuck() -> None:
    lag = LagEvaluator(window_s=WINDOW)
    stuck_for_a_window(lag)
    lag.note_progress("video.tasks", "worker-1", at=55)
    assert lag.status(TASKS, owner="worker-1") is LagStatus.BUSY
    # Without an owner (unassigned) or for another member, progress excuses nothing.
    assert lag.status(TASKS) is LagStatus.STUCK
    assert lag.status(TASKS, owner="worker-2") is LagStatus.STUCK


def test_progress_older_than_the_window_leaves_a_hung_task_stuck() -> None:
    lag = LagEvaluator(window_s=WINDOW)
    lag.note_progress("video.tasks", "worker-1", at=20)  # then nothing: ffmpeg hangs
    stuck_for_a_window(lag)
    assert lag.status(TASKS, owner="worker-1") is LagStatus.STUCK


def test_progress_on_one_topic_spares_none_of_the_members_other_groups() -> None:
    """One worker process runs several consumers under one client id: a video task's progress says
    nothing about its job consumer."""
    lag = LagEvaluator(window_s=WINDOW)
    jobs: PartitionKey = ("reencoder", "jobs.requested", 0)
    stuck_for_a_window(lag, jobs)
    lag.note_progress("video.tasks", "worker-1", at=60)
    assert lag.status(jobs, owner="worker-1") is LagStatus.STUCK


def test_progress_never_turns_a_healthy_partition_busy() -> None:
    lag = LagEvaluator(window_s=WINDOW)
    for at in range(0, 61, 10):
        lag.observe(TASKS, OffsetSample(at, at, at + 1))  # commits move
    lag.note_progress("video.tasks", "worker-1", at=60)
    assert lag.status(TASKS, owner="worker-1") is LagStatus.OK


def test_the_monitor_ages_replayed_progress_by_the_events_own_time() -> None:
    monitor = Monitor(MonitoringSettings(), KafkaSettings(), DatabaseSettings(), StorageSettings(), "m1")
    now = time.monotonic()
    old = progress("worker-old", seconds_ago=10 * WINDOW)
    fresh = progress("worker-new", seconds_ago=1)
    monitor.on_progress(old)
    monitor.on_progress(fresh)
    assert not monitor.lag.progressing("video.tasks", "worker-old", now)
    assert monitor.lag.progressing("video.tasks", "worker-new", now)


def progress(worker: str, seconds_ago: float) -> VideoTaskProgress:
    return VideoTaskProgress(
        correlation_id="c",
        occurred_at=utc_now() - timedelta(seconds=seconds_ago),
        job_id="j",
        task_id="240p",
        weight=0.5,
        fraction=0.3,
        worker_id=worker,
    )


def test_a_busy_partition_raises_no_alert_and_shows_its_owner() -> None:
    lag = LagEvaluator(window_s=WINDOW)
    watcher = KafkaWatcher(KafkaSettings(), lag, "m1")
    holder = GroupMember(member_id="m", client_id="worker-1", host="h")
    part = PartitionLag(topic="video.tasks", partition=3, committed=5, end=6, owner="worker-1")
    group = GroupView(group_id="reencoder.video-tasks", state="Stable", members=(holder,), partitions=(part,))
    for at in range(0, 61, 10):
        view, findings = watcher._judge_group(group, float(at), set())
    assert [f.key for f in findings] == ["kafka.group_stuck:reencoder.video-tasks/video.tasks"]
    lag.note_progress("video.tasks", "worker-1", at=60)
    view, findings = watcher._judge_group(group, 61.0, set())
    assert findings == []
    assert (view.status, view.partitions[0].status) == (LagStatus.BUSY, LagStatus.BUSY)
    assert view.partitions[0].owner == "worker-1"
