"""The preview task tiles the thumbnails the chunk tasks took: completion starts it once every chunk is
done (with the MP4 assemblies), never with the first tasks, and removes the thumbnails before the job
is announced done (a done job keeps only its renditions and bookkeeping)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, BinaryIO

from services.reencoder.job_outcome import JobAnnouncer
from services.reencoder.renditions import manifest_key
from services.reencoder.video import keys
from services.reencoder.video.completion import VideoJobCompletion
from services.reencoder.video.planner import plan_tasks, playable_first
from services.reencoder.video.probe import VideoProbe
from services.reencoder.video.results import JobPlan, Segment, TaskResult
from shared.events import VIDEO_TASKS, VideoTaskFinished, VideoTaskKind
from shared.kafka import Delivery
from shared.storage import StoredObject
from tests.video_samples import video_job

JOB = video_job()
DELIVERY = Delivery(topic="video.tasks.finished", partition=0, offset=0, key=JOB.job_id, attempt=1)


class MemoryStore:
    renditions_bucket = "renditions"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def get_json(self, bucket: str, key: str) -> Any | None:
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

    def remove_prefix(self, bucket: str, prefix: str) -> None:
        for key in self.list_keys(bucket, prefix):
            del self.objects[key]


class Producer:
    def __init__(self) -> None:
        self.published: list[tuple[str, Any]] = []

    async def publish(self, topic: Any, event: Any) -> None:
        self.published.append((topic.name, event))

    def tasks(self) -> list[str]:
        return [event.task_id for topic, event in self.published if topic == VIDEO_TASKS.name]


def finish(store: MemoryStore, task: Any) -> VideoTaskFinished:
    """The done-marker of `task` (one segment per rung for a chunk), and its `finished` event."""
    rungs = [o.name for o in task.outputs] if task.kind == VideoTaskKind.CHUNK else []
    if task.kind == VideoTaskKind.AUDIO:
        rungs = ["audio"]
    segment = Segment(file=f"seg_{task.first_segment:05d}.m4s", seconds=4.0, bytes=1000)
    result = TaskResult(
        task_id=task.task_id,
        worker_id="w",
        renditions=(),
        segments={rung: (segment,) for rung in rungs},
        codecs={rung: "avc1.64001f" for rung in rungs},
    )
    store.put_json(
        store.renditions_bucket,
        keys.task_marker_key(JOB.job_id, task.task_id),
        result.model_dump(mode="json"),
    )
    return VideoTaskFinished(
        correlation_id="c", job_id=JOB.job_id, task_id=task.task_id, ok=True, worker_id="w"
    )


def test_the_preview_starts_after_every_chunk_and_its_thumbnails_go_before_done() -> None:
    store, producer = MemoryStore(), Producer()
    probe = VideoProbe("h264", 1280, 720, 20.0, 25.0, has_audio=True)
    tasks, assembly = plan_tasks(JOB, probe, chunk_s=8, segment_s=4, first_chunk_segments=1)
    plan = JobPlan(
        job_id=JOB.job_id, tasks=tuple(tasks), assembly=tuple(assembly), first=playable_first(tasks)
    )
    store.put_json(store.renditions_bucket, keys.plan_key(JOB.job_id), plan.model_dump(mode="json"))
    for index in range(10):  # the thumbnails the chunks stored
        store.objects[keys.thumbnail_key(JOB.job_id, index)] = b"jpeg"
    completion = VideoJobCompletion(JobAnnouncer(store, producer, "w"))  # type: ignore[arg-type]
    chunks = [t for t in tasks if t.kind == VideoTaskKind.CHUNK]
    audio = next(t for t in tasks if t.kind == VideoTaskKind.AUDIO)
    assert len(chunks) == 3

    async def run(task: Any) -> None:
        await completion(finish(store, task), DELIVERY)

    asyncio.run(run(chunks[0]))
    asyncio.run(run(audio))
    assert producer.tasks() == [chunks[1].task_id, chunks[2].task_id]  # not the preview yet
    asyncio.run(run(chunks[2]))
    asyncio.run(run(chunks[1]))  # the last chunk: the preview and the assemblies start
    assert set(producer.tasks()[2:]) == {"preview", *(t.task_id for t in assembly)}
    preview = next(t for t in tasks if t.kind == VideoTaskKind.PREVIEW)
    for task in (preview, *assembly):
        assert manifest_key(JOB.job_id) not in store.objects
        assert store.list_keys(store.renditions_bucket, keys.thumbnails_prefix(JOB.job_id))
        asyncio.run(run(task))
    assert manifest_key(JOB.job_id) in store.objects
    assert not store.list_keys(store.renditions_bucket, keys.thumbnails_prefix(JOB.job_id))
