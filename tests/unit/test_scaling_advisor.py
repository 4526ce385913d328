"""The scaling advisor's arithmetic: workers to clear a backlog in the target time, capped by partitions."""

from __future__ import annotations

from services.monitoring.scaling_advisor import ScalingAdvisor, advise


def test_workers_are_sized_to_drain_the_backlog_and_keep_up_with_arrivals() -> None:
    # Two workers drain 2/s (1/s each); 600 queued, 1/s arriving, 300 s target: (1 + 2) / 1 = 3 workers.
    recommended, limited, clears_in_s, note = advise(
        backlog=600, arrival_per_s=1.0, drain_per_s=2.0, workers=2, partitions=6, target_s=300
    )
    assert (recommended, limited) == (3, False)
    assert clears_in_s == 600.0  # shrinking by 1/s now
    assert "scale to 3" in note


def test_partitions_cap_the_advice_and_the_note_says_so() -> None:
    recommended, limited, _, note = advise(
        backlog=10_000, arrival_per_s=0.0, drain_per_s=1.0, workers=1, partitions=6, target_s=100
    )
    assert (recommended, limited) == (6, True)
    assert "100 workers" in note
    assert "6 partitions" in note


def test_a_backlog_that_grows_never_clears_at_the_current_rate() -> None:
    _, _, clears_in_s, _ = advise(
        backlog=50, arrival_per_s=3.0, drain_per_s=2.0, workers=2, partitions=6, target_s=60
    )
    assert clears_in_s is None


def test_no_backlog_keeps_the_workers_there_are() -> None:
    assert advise(backlog=0, arrival_per_s=0.5, drain_per_s=0.5, workers=2, partitions=6, target_s=60)[
        :3
    ] == (
        2,
        False,
        0.0,
    )


def test_a_queue_without_workers_needs_one_and_without_a_rate_gives_no_number() -> None:
    assert advise(backlog=5, arrival_per_s=0, drain_per_s=0, workers=0, partitions=6, target_s=60)[0] == 1
    assert advise(backlog=5, arrival_per_s=0, drain_per_s=0, workers=2, partitions=6, target_s=60)[0] is None


def test_the_advisor_measures_rates_from_offsets_over_its_window() -> None:
    advisor = ScalingAdvisor(target_s=100, window_s=60)
    advisor.observe("reencoder", "jobs.requested", at=0.0, committed=100, end=400)
    advisor.observe("reencoder", "jobs.requested", at=10.0, committed=120, end=410)
    advice = advisor.advice("reencoder", "jobs.requested", workers=2, partitions=6)
    assert advice is not None
    assert (advice.backlog, advice.arrival_per_s, advice.drain_per_s) == (290, 1.0, 2.0)
    assert advice.per_worker_per_s == 1.0
    # (1 + 290 / 100) / 1 = 3.9 -> 4 workers.
    assert advice.recommended == 4
    # Samples older than the window leave it (one is kept as the window's start).
    for at in (70.0, 80.0):
        advisor.observe("reencoder", "jobs.requested", at=at, committed=130, end=410)
    later = advisor.advice("reencoder", "jobs.requested", workers=2, partitions=6)
    assert later is not None
    assert later.arrival_per_s == 0.0
