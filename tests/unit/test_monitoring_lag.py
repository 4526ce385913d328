"""The lag evaluator judges trends, as Burrow does: stuck only when lag stays while nothing commits."""

from __future__ import annotations

from services.monitoring.lag import LagEvaluator, LagStatus, OffsetSample, judge

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
