"""Workers' timing events: the phase timer, and how the metrics service folds and shows the timings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.metrics.aggregator import Aggregator
from services.metrics.view import summarise
from services.reencoder.timing import PhaseTimer
from shared.events import (
    METRICS_WORK,
    JobStatus,
    JobStatusChanged,
    WorkKind,
    WorkOutcome,
    WorkTimed,
    utc_now,
)


class FakeClock:
    """A monotonic clock that moves only when told (pure timing logic, no sleeping)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_timer_adds_up_each_phase_even_when_entered_twice_or_left_by_an_error() -> None:
    clock = FakeClock()
    timer = PhaseTimer(clock=clock)
    with timer.phase("download"):
        clock.now += 1.5
    with timer.phase("upload"):
        clock.now += 0.25
    try:
        with timer.phase("upload"):
            clock.now += 0.5
            raise TimeoutError
    except TimeoutError:
        pass
    assert timer.seconds == {"download": 1.5, "upload": 0.75}


def test_queue_wait_runs_from_the_request_to_the_start_and_is_never_negative() -> None:
    started = datetime(2026, 1, 1, 12, 0, 10, tzinfo=UTC)
    timer = PhaseTimer(started_at=started)
    assert timer.queue_wait_s(started - timedelta(seconds=4)) == 4.0
    # The requesting host's clock ran ahead of the worker's.
    assert timer.queue_wait_s(started + timedelta(seconds=1)) == 0.0


def timed(worker: str, job: str, encode_s: float, wait_s: float = 1.0, task: str | None = None) -> WorkTimed:
    return WorkTimed(
        correlation_id="c",
        job_id=job,
        task_id=task,
        kind=WorkKind.VIDEO_RENDITION if task else WorkKind.IMAGE,
        worker_id=worker,
        outcome=WorkOutcome.DONE,
        queue_wait_s=wait_s,
        download_s=0.5,
        encode_s=encode_s,
        upload_s=0.5,
        bytes_in=1000,
        bytes_out=400,
    )


def test_timings_are_keyed_by_job_so_they_meet_the_jobs_reports() -> None:
    assert METRICS_WORK.key(timed("w1", "job-7", 1.0)) == "job-7"
    assert METRICS_WORK.partitions == 6


def test_the_summary_prefers_worker_timings_and_survives_the_snapshot() -> None:
    aggregator = Aggregator()
    aggregator.observe(timed("w1", "j1", encode_s=2.0, wait_s=3.0))
    aggregator.observe(timed("w1", "j2", encode_s=4.0, wait_s=3.0, task="360p"))
    aggregator.observe(timed("w2", "j3", encode_s=1.0, wait_s=3.0))
    # A derived figure for the same job (reports only) must not win over the timing.
    aggregator.observe(
        JobStatusChanged(
            correlation_id="c",
            occurred_at=utc_now() - timedelta(seconds=5),
            job_id="j1",
            status=JobStatus.PROCESSING,
            worker_id="w1",
        )
    )
    aggregator.observe(
        JobStatusChanged(correlation_id="c", job_id="j1", status=JobStatus.DONE, worker_id="w1")
    )

    window = summarise([aggregator.snapshot("m1", ())]).window(60)

    assert window.timings_from == "workers"
    assert window.encode_seconds_total == 7.0
    assert window.queue_wait_s.p50 is not None
    assert 2.9 <= window.queue_wait_s.p50 <= 3.1
    workers = {w.worker_id: w for w in window.workers}
    # Busy time is download + encode + upload of every piece of work: (1 + 2) + (1 + 4) s for w1.
    assert workers["w1"].busy_s == 8.0
    assert workers["w1"].utilisation == round(8.0 / 60, 6)
    assert (workers["w1"].units, workers["w1"].jobs) == (2, 1)
    assert workers["w1"].encode_bytes_per_s == round(2000 / 6.0, 1)
    assert workers["w2"].busy_s == 2.0
    work = window.work
    assert (work.units, work.failed, work.bytes_in, work.bytes_out) == (3, 0, 3000, 1200)
    assert work.encode_bytes_per_s == round(3000 / 7.0, 1)
    assert (work.download_seconds_total, work.upload_seconds_total) == (1.5, 1.5)
    assert window.encode_bytes_per_s == round(1200 / 60, 1)


def test_without_timings_the_summary_keeps_the_figures_derived_from_job_reports() -> None:
    aggregator = Aggregator()
    aggregator.observe(
        JobStatusChanged(
            correlation_id="c",
            occurred_at=utc_now() - timedelta(seconds=5),
            job_id="j1",
            status=JobStatus.PROCESSING,
            worker_id="w1",
        )
    )
    aggregator.observe(
        JobStatusChanged(correlation_id="c", job_id="j1", status=JobStatus.DONE, worker_id="w1")
    )

    window = summarise([aggregator.snapshot("m1", ())]).window(60)

    assert window.timings_from == "job_reports"
    assert window.work.units == 0
    assert window.work.encode_bytes_per_s is None
    (worker,) = window.workers
    assert worker.jobs == 1
    assert 4.5 <= worker.busy_s <= 5.5
    assert worker.units == 0
