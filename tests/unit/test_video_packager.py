"""The packager (`VideoJobCompletion`) over a job of many chunks: each finished chunk costs a listing
and the markers not read before, never every marker again (n reads for n chunks, not n²/2), and a
redelivered result or a fresh worker reaches the same playlists."""

from __future__ import annotations

import asyncio

from services.reencoder.video import keys
from services.reencoder.video.planner import plan_tasks
from services.reencoder.video.probe import VideoProbe
from services.reencoder.video.results import JobPlan
from shared.events import JOBS_STATUS, VideoTaskKind
from tests.video_completion_doubles import (
    DELIVERY,
    JOB,
    MemoryStore,
    Producer,
    completion,
    finish,
    store_plan,
)

CHUNKS = 40


def planned_job(store: MemoryStore) -> JobPlan:
    probe = VideoProbe("h264", 1280, 720, CHUNKS * 5.0, 25.0, has_audio=True)
    return store_plan(store, *plan_tasks(JOB, probe, chunk_s=5, segment_s=5))


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
