"""The preview task tiles the thumbnails the chunk tasks took: completion starts it once every chunk is
done (with the MP4 assemblies), never with the first tasks, and removes the thumbnails before the job
is announced done (a done job keeps only its renditions and bookkeeping)."""

from __future__ import annotations

import asyncio
from typing import Any

from services.reencoder.renditions import manifest_key
from services.reencoder.video import keys
from services.reencoder.video.planner import plan_tasks
from services.reencoder.video.probe import VideoProbe
from shared.events import VideoTaskFinished, VideoTaskKind, VideoTaskRequested
from tests.video_completion_doubles import (
    DELIVERY,
    JOB,
    MemoryStore,
    Producer,
    completion,
    finish,
    store_plan,
)


def finish_task(store: MemoryStore, task: VideoTaskRequested) -> VideoTaskFinished:
    """The done-marker of `task` (one 4 s segment per rung for a chunk, the audio's for the audio)."""
    rungs = tuple(o.name for o in task.outputs) if task.kind == VideoTaskKind.CHUNK else ()
    if task.kind == VideoTaskKind.AUDIO:
        rungs = ("audio",)
    return finish(store, task.task_id, rungs, task.first_segment, seconds=4.0)


def test_the_preview_starts_after_every_chunk_and_its_thumbnails_go_before_done() -> None:
    store, producer = MemoryStore(), Producer()
    probe = VideoProbe("h264", 1280, 720, 20.0, 25.0, has_audio=True)
    tasks, assembly = plan_tasks(JOB, probe, chunk_s=8, segment_s=4, first_chunk_segments=1)
    store_plan(store, tasks, assembly)
    for index in range(10):  # the thumbnails the chunks stored
        store.objects[keys.thumbnail_key(JOB.job_id, index)] = b"jpeg"
    packager = completion(store, producer)
    chunks = [t for t in tasks if t.kind == VideoTaskKind.CHUNK]
    audio = next(t for t in tasks if t.kind == VideoTaskKind.AUDIO)
    assert len(chunks) == 3

    async def run(task: Any) -> None:
        await packager(finish_task(store, task), DELIVERY)

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
