"""In-memory stand-ins for the video packager's collaborators (`VideoJobCompletion`): the renditions
bucket and the producer, plus helpers that store a job's plan and a task's done-marker. For unit
tests of the packager's logic; the system tests run it on MinIO and Kafka."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, BinaryIO

from services.reencoder.job_outcome import JobAnnouncer
from services.reencoder.video import keys
from services.reencoder.video.completion import VideoJobCompletion
from services.reencoder.video.planner import playable_first
from services.reencoder.video.results import JobPlan, Segment, TaskResult
from shared.events import VIDEO_TASKS, VideoTaskFinished, VideoTaskRequested
from shared.kafka import Delivery
from shared.storage import StoredObject
from tests.video_samples import video_job

JOB = video_job()
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

    def remove_prefix(self, bucket: str, prefix: str) -> None:
        for key in self.list_keys(bucket, prefix):
            del self.objects[key]


class Producer:
    """Keeps what was published, as (topic name, event)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, Any]] = []

    async def publish(self, topic: Any, event: Any) -> None:
        self.published.append((topic.name, event))

    def tasks(self) -> list[str]:
        """The ids of the video tasks published, in order."""
        return [event.task_id for topic, event in self.published if topic == VIDEO_TASKS.name]


def store_plan(
    store: MemoryStore, tasks: list[VideoTaskRequested], assembly: list[VideoTaskRequested]
) -> JobPlan:
    """The plan of `JOB` as the planner stores it before any task exists."""
    plan = JobPlan(
        job_id=JOB.job_id, tasks=tuple(tasks), assembly=tuple(assembly), first=playable_first(tasks)
    )
    store.put_json(store.renditions_bucket, keys.plan_key(JOB.job_id), plan.model_dump(mode="json"))
    return plan


def finish(
    store: MemoryStore, task_id: str, rungs: tuple[str, ...], first_segment: int, seconds: float = 5.0
) -> VideoTaskFinished:
    """The done-marker of a task that stored one segment per rung; its `finished` event."""
    segment = Segment(file=f"seg_{first_segment:05d}.m4s", seconds=seconds, bytes=1000)
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
