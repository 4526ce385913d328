"""A running video task keeps reporting between ffmpeg's reports, so monitoring reads it as busy.

Monitoring calls a partition stuck when its offset does not move for its lag window, unless the
worker holding it reports progress (services/monitoring/lag.py). A task's download, its previews'
ffmpeg (which reports nothing) or a slow start must therefore not fall silent for that long.
"""

from __future__ import annotations

import asyncio
from itertools import pairwise
from typing import Any, cast

from services.reencoder.timing import TimingReporter
from services.reencoder.video.task_handler import VideoTaskHandler
from shared.events import VideoOutput, VideoTaskKind, VideoTaskProgress, VideoTaskRequested
from shared.kafka import EventProducer
from shared.settings import VideoLimits
from shared.storage import MediaStore

INTERVAL_S = 0.1


class RecordingProducer:
    def __init__(self) -> None:
        self.published: list[Any] = []

    async def publish(self, topic: Any, event: Any) -> None:
        self.published.append(event)


def handler(producer: RecordingProducer) -> VideoTaskHandler:
    timings = TimingReporter(cast(EventProducer, producer), "w")
    limits = VideoLimits(progress_interval_s=INTERVAL_S)
    # No storage: the check for a failed job, made with each report, fails and means "not known".
    return VideoTaskHandler(cast(MediaStore, None), cast(EventProducer, producer), "w", limits, timings)


def task() -> VideoTaskRequested:
    return VideoTaskRequested(
        correlation_id="c",
        job_id="j",
        task_id="preview",
        kind=VideoTaskKind.PREVIEW,
        output=VideoOutput(name="preview", width=320, height=240, video_kbps=0, audio_kbps=0),
        source_key="uploads/j",
        duration_s=60.0,
        has_audio=False,
        weight=0.1,
        partition_key="k",
    )


async def test_a_silent_phase_resends_the_last_fraction_at_the_progress_interval() -> None:
    producer = RecordingProducer()
    tasks = handler(producer)
    work = task()
    async with tasks._reporting(work):
        await asyncio.sleep(3.5 * INTERVAL_S)  # a download, say: nothing from ffmpeg yet
        await tasks._progress_publisher(work)(0.4)  # ffmpeg's report, through the same throttle
        await asyncio.sleep(2.5 * INTERVAL_S)
        tasks._publish_progress(work, 1.0)  # the encode's end: the keep-alive stops
        await asyncio.sleep(2.5 * INTERVAL_S)
    await asyncio.sleep(2 * INTERVAL_S)  # and nothing once the task is over
    await tasks.timings.reports.drain()

    reports = [event for event in producer.published if isinstance(event, VideoTaskProgress)]
    fractions = [event.fraction for event in reports]
    assert fractions[0] == 0.0
    assert fractions == sorted(fractions)
    assert fractions.count(0.0) >= 3
    assert fractions.count(0.4) >= 2
    assert fractions[-1] == 1.0
    assert fractions.count(1.0) == 1
    # Never more often than the interval, but the end which is sent at once.
    times = [event.occurred_at.timestamp() for event in reports[:-1]]
    assert all(later - earlier >= 0.9 * INTERVAL_S for earlier, later in pairwise(times))
    assert tasks._reports == {}
