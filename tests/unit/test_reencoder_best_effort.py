"""Progress and timings are best effort: a producer that refuses or stalls never fails or holds the work.

The producer here is a stand-in that refuses or hangs on demand (the broker's behaviour during a
hiccup); the system tests run the real one.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, cast

import pytest
from aiokafka.errors import KafkaTimeoutError

from services.reencoder.best_effort import BestEffortPublisher
from services.reencoder.timing import PhaseTimer, TimingReporter
from services.reencoder.video.commands import rendition_command
from services.reencoder.video.ffmpeg_runner import run_ffmpeg
from services.reencoder.video.task_handler import VideoTaskHandler
from shared.events import (
    METRICS_WORK,
    VIDEO_PROGRESS,
    VideoOutput,
    VideoTaskKind,
    VideoTaskProgress,
    VideoTaskRequested,
    WorkKind,
    WorkOutcome,
    utc_now,
)
from shared.kafka import EventProducer
from shared.settings import VideoLimits
from shared.storage import MediaStore
from tests.video_samples import ffmpeg_binary, video_bytes

OUTPUT = VideoOutput(name="240p", width=320, height=240, video_kbps=500, audio_kbps=96)


class FlakyProducer:
    """Refuses (`fail`) or never answers (`hang`) until told otherwise; records what it took."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.published: list[Any] = []

    async def publish(self, topic: Any, event: Any) -> None:
        if self.mode == "fail":
            raise KafkaTimeoutError("the broker did not answer")
        if self.mode == "hang":
            await asyncio.Event().wait()
        self.published.append(event)


def progress(fraction: float) -> VideoTaskProgress:
    return VideoTaskProgress(
        correlation_id="c", job_id="j", task_id="360p", weight=1.0, fraction=fraction, worker_id="w"
    )


def publisher(producer: FlakyProducer, **options: Any) -> BestEffortPublisher:
    return BestEffortPublisher(cast(EventProducer, producer), **options)


async def test_send_returns_at_once_and_a_refusal_is_counted_not_raised() -> None:
    producer = FlakyProducer("fail")
    reports = publisher(producer)
    reports.send(VIDEO_PROGRESS, progress(0.5))  # must not raise
    await reports.drain()
    assert (reports.sent, reports.failed) == (0, 1)
    producer.mode = "ok"
    reports.send(VIDEO_PROGRESS, progress(0.6))
    await reports.drain()
    assert (reports.sent, reports.failed) == (1, 1)
    assert [event.fraction for event in producer.published] == [0.6]


async def test_a_stalled_broker_holds_nothing_and_the_backlog_is_bounded() -> None:
    reports = publisher(FlakyProducer("hang"), timeout_s=0.2, max_in_flight=3)
    started = time.monotonic()
    for fraction in range(10):
        reports.send(VIDEO_PROGRESS, progress(fraction / 10))
    assert time.monotonic() - started < 0.1
    assert reports.dropped == 7
    await reports.drain()
    assert reports.failed == 3


async def test_an_awaited_report_gives_up_within_its_bound() -> None:
    reports = publisher(FlakyProducer("hang"), timeout_s=0.2)
    started = time.monotonic()
    assert await reports.publish(VIDEO_PROGRESS, progress(1.0)) is False
    assert time.monotonic() - started < 2


async def test_a_refused_timing_never_fails_the_work(caplog: pytest.LogCaptureFixture) -> None:
    timings = TimingReporter(cast(EventProducer, FlakyProducer("fail")), "w")
    for _ in range(3):
        await timings.report(
            PhaseTimer(),
            correlation_id="c",
            job_id="j",
            task_id=None,
            kind=WorkKind.IMAGE,
            requested_at=utc_now(),
            outcome=WorkOutcome.DONE,
        )
    assert timings.reports.failed == 3
    # Logged once per outage, not once per event.
    assert sum(METRICS_WORK.name in record.getMessage() for record in caplog.records) == 1


class UnreachableStore:
    renditions_bucket = "renditions"

    def stat(self, bucket: str, key: str) -> None:
        raise ConnectionError("storage is restarting")


async def test_an_encode_runs_to_the_end_while_kafka_and_storage_refuse_its_progress(tmp_path: Path) -> None:
    """Before: the first refused progress event raised out of ffmpeg's progress callback, killed
    ffmpeg and restarted the task from zero."""
    producer = FlakyProducer("fail")
    timings = TimingReporter(cast(EventProducer, producer), "w")
    limits = VideoLimits(progress_interval_s=0.0)
    handler = VideoTaskHandler(
        cast(MediaStore, UnreachableStore()), cast(EventProducer, producer), "w", limits, timings
    )
    task = VideoTaskRequested(
        correlation_id="c",
        job_id="j",
        task_id=OUTPUT.name,
        kind=VideoTaskKind.RENDITION,
        output=OUTPUT,
        source_key="uploads/j",
        duration_s=2.0,
        has_audio=True,
        weight=1.0,
        partition_key="k",
    )
    source = tmp_path / "in.mp4"
    source.write_bytes(video_bytes(seconds=2))
    command = rendition_command(
        source,
        tmp_path / "out.mp4",
        OUTPUT,
        frame_rate=25,
        has_audio=True,
        threads=1,
        ffmpeg_binary=ffmpeg_binary(),
    )
    await run_ffmpeg(command, timeout_s=120, duration_s=2.0, on_progress=handler._progress_publisher(task))
    await timings.reports.drain()
    assert (tmp_path / "out.mp4").stat().st_size > 0
    assert timings.reports.failed >= 1
