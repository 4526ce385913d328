"""The packager (`VideoJobCompletion`) over a job of many chunks: each finished chunk costs a listing
and the markers not read before, never every marker again (n reads for n chunks, not n²/2), and a
redelivered result or a fresh worker reaches the same playlists."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any, BinaryIO

from services.reencoder.job_outcome import JobAnnouncer
from services.reencoder.video import keys
from services.reencoder.video.completion import VideoJobCompletion
from services.reencoder.video.planner import plan_tasks, playable_first
from services.reencoder.video.probe import VideoProbe
from services.reencoder.video.results import JobPlan, Segment, TaskResult
from shared.events import JOBS_STATUS, VideoTaskFinished, VideoTaskKind
from shared.kafka import Delivery
from shared.storage import StoredObject
from tests.video_samples import video_job

JOB = video_job()
CHUNKS = 40
DELIVERY = Delivery(topic="video.tasks.finished", partition=0, offset=0, key=JOB.job_id, attempt=1)


class MemoryStore:
    """The renditions bucket in memory, counting the reads of each key."""

    renditions_bucket = "renditions"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads: Counter[str] = Counter()

    def get_json(self, bucket: str, key: str) -> Any | None:
        self.reads[key] += 1
        data = self.objects.get(key)
        return None if data is None else json.loads(data)

    def put_json(self, bucket: str, key: str, document: Any) -> None:
        self.objects[key] = json.dumps(document).encode()

    def put_stream(self, bucket: str, key: str, stream: BinaryIO, length: int, content_type: str) -> None:
        self.objects[key] = stream.read(length)

    def stat(self, bucket: str, key: str) -> StoredObject | None:
        data = self.objects.get(key)
        return None if data is None else StoredObject(key, len(data), "")

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(key for key in self.objects if key.startswith(prefix))


class Producer:
    def __init__(self) -> None:
        self.published: list[tuple[str, Any]] = []

    async def publish(self, topic: Any, event: Any) -> None:
        self.published.append((topic.name, event))


def planned_job(store: MemoryStore) -> JobPlan:
    probe = VideoProbe("h264", 1280, 720, CHUNKS * 5.0, 25.0, has_audio=True)
    tasks, assembly = plan_tasks(JOB, probe, chunk_s=5, segment_s=5)
    plan = JobPlan(
        job_id=JOB.job_id, tasks=tuple(tasks), assembly=tuple(assembly), first=playable_first(tasks)
    )
    store.put_json(store.renditions_bucket, keys.plan_key(JOB.job_id), plan.model_dump(mode="json"))
    return plan


def finish(store: MemoryStore, task_id: str, rungs: tuple[str, ...], first_segment: int) -> VideoTaskFinished:
    """The done-marker of a task that stored one 5 s segment per rung; its `finished` event."""
    segment = Segment(file=f"seg_{first_segment:05d}.m4s", seconds=5.0, bytes=1000)
    result = TaskResult(
        task_id=task_id,
        worker_id="w",
        renditions=(),
        segments={rung: (segment,) for rung in rungs},
        codecs={rung: "avc1.64001f" for rung in rungs},
    )
    store.put_json(
        store.renditions_bucket, keys.task_marker_key(JOB.job_id, task_id), result.model_dump(mode="json")
    )
    return VideoTaskFinished(correlation_id="c", job_id=JOB.job_id, task_id=task_id, ok=True, worker_id="w")


def completion(store: MemoryStore, producer: Producer) -> VideoJobCompletion:
    return VideoJobCompletion(JobAnnouncer(store, producer, "w"))  # type: ignore[arg-type]


def test_each_marker_is_read_once_however_many_chunks_finish() -> None:
    store, producer = MemoryStore(), Producer()
    plan = planned_job(store)
    packager = completion(store, producer)
    chunks = [t for t in plan.tasks if t.kind == VideoTaskKind.CHUNK]
    rungs = tuple(o.name for o in chunks[0].outputs)
    asyncio.run(packager(finish(store, "audio", ("audio",), 0), DELIVERY))
    for chunk in chunks:
        asyncio.run(packager(finish(store, chunk.task_id, rungs, chunk.first_segment), DELIVERY))

    marker_reads = {key: n for key, n in store.reads.items() if "/tasks/" in key}
    assert len(marker_reads) == CHUNKS  # every chunk's marker was needed for the playlists ...
    assert set(marker_reads.values()) == {1}  # ... and read once (before: chunk k's n - k + 1 times)
    assert store.reads[keys.plan_key(JOB.job_id)] == 1
    playlist = store.objects[keys.hls_file_key(JOB.job_id, rungs[0], "index.m3u8")].decode()
    assert playlist.count("#EXTINF:") == CHUNKS
    assert "#EXT-X-ENDLIST" in playlist
    playable = [e for topic, e in producer.published if topic == JOBS_STATUS.name and e.playable_at]
    assert len(playable) == 1


def test_a_redelivery_or_a_fresh_worker_reaches_the_same_playlists() -> None:
    store, producer = MemoryStore(), Producer()
    plan = planned_job(store)
    chunks = [t for t in plan.tasks if t.kind == VideoTaskKind.CHUNK]
    rungs = tuple(o.name for o in chunks[0].outputs)
    first = completion(store, producer)
    asyncio.run(first(finish(store, "audio", ("audio",), 0), DELIVERY))
    # Out of order: chunk 2 before chunk 1 lists only chunk 0 (no gap).
    for index in (0, 2):
        asyncio.run(first(finish(store, chunks[index].task_id, rungs, index), DELIVERY))
    key = keys.hls_file_key(JOB.job_id, rungs[0], "index.m3u8")
    assert store.objects[key].decode().count("#EXTINF:") == 1
    event = finish(store, chunks[1].task_id, rungs, 1)
    asyncio.run(first(event, DELIVERY))
    after_three = store.objects[key]
    assert after_three.decode().count("#EXTINF:") == 3
    asyncio.run(first(event, DELIVERY))  # redelivered
    fresh = completion(store, producer)  # another worker took the partition over
    store.objects[key] = b"stale"
    asyncio.run(fresh(event, DELIVERY))
    assert store.objects[key] == after_three
    playable = [e for topic, e in producer.published if topic == JOBS_STATUS.name and e.playable_at]
    assert len(playable) == 1
