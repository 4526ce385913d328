"""A video's `JobRequested`: probe the original, check the limits, plan chunks and outputs, fan out tasks."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.reencoder.job_outcome import JobAnnouncer
from services.reencoder.scratch import ScratchKind, scratch_folder
from services.reencoder.storage_outages import storage_outages_are_infrastructure
from services.reencoder.video.chunks import chunk_task_id, plan_chunks
from services.reencoder.video.commands import RemoteSource
from services.reencoder.video.keys import plan_key
from services.reencoder.video.ladder import plan_ladder, plan_preview, with_av1_top
from services.reencoder.video.partitioning import spread_keys
from services.reencoder.video.probe import (
    PROBE_TIMEOUT_S,
    VideoProbe,
    check_limits,
    probe_remote_video,
    probe_video,
)
from services.reencoder.video.results import JobPlan
from shared.events import (
    VIDEO_TASKS,
    JobRequested,
    JobStatus,
    VideoTaskKind,
    VideoTaskRequested,
)
from shared.kafka import Delivery
from shared.media import VIDEO_DEMUXERS, MediaRejected, sniff_video
from shared.settings import VideoLimits

log = logging.getLogger(__name__)


#: Shares of a job's work: the chunks take the rest, by their length.
AUDIO_SHARE = 0.03
PREVIEW_SHARE = 0.02
ASSEMBLY_SHARE = 0.05
AUDIO_TASK = "audio"
#: The probe's URL is valid for as long as ffprobe may run, and a minute more.
PROBE_URL_EXPIRY_S = int(PROBE_TIMEOUT_S) + 60


def assembly_task_id(rung: str) -> str:
    return f"mp4-{rung}"


def plan_tasks(
    job: JobRequested,
    probe: VideoProbe,
    *,
    chunk_s: int = 8,
    segment_s: int = 4,
    first_chunk_segments: int | None = None,
    av1: bool = False,
) -> tuple[list[VideoTaskRequested], list[VideoTaskRequested]]:
    """(tasks to start now, tasks for when they are done): one task per chunk (every rung in one
    decode, the sprite's thumbnails too), the audio and the previews; then one MP4 assembly per
    rung. The previews tile the chunks' thumbnails: completion starts them with the assemblies, once
    every chunk is done. Keyed to land on consecutive partitions, so different workers take them."""
    ladder = plan_ladder(probe.width, probe.height)
    outputs = tuple(with_av1_top(ladder) if av1 else ladder)
    preview = plan_preview(probe.width, probe.height)
    first_chunk_s = None if first_chunk_segments is None else first_chunk_segments * segment_s
    chunks = plan_chunks(probe.duration_s, chunk_s, segment_s, first_chunk_s)
    audio_share = AUDIO_SHARE if probe.has_audio else 0.0
    chunk_share = 1.0 - audio_share - PREVIEW_SHARE - ASSEMBLY_SHARE
    top = ladder[-1]  # the H.264 top rung (an AV1 variant of it has the same size and audio)
    common = {
        "correlation_id": job.correlation_id,
        "job_id": job.job_id,
        "source_key": job.source_key,
        "duration_s": probe.duration_s,
        "frame_rate": probe.frame_rate,
        "has_audio": probe.has_audio,
        "segment_s": float(segment_s),
    }
    now: list[dict[str, Any]] = [
        {
            "task_id": chunk_task_id(chunk.index),
            "kind": VideoTaskKind.CHUNK,
            "output": top,
            "outputs": outputs,
            "chunk": chunk.index,
            "start_s": chunk.start_s,
            "length_s": chunk.length_s,
            "first_segment": chunk.first_segment,
            "weight": chunk_share * chunk.length_s / sum(c.length_s for c in chunks),
        }
        for chunk in chunks
    ]
    if probe.has_audio:
        # Beside the first chunk, so that the two tasks that make the job playable land on neighbouring
        # partitions, which belong to different workers.
        audio = {"task_id": AUDIO_TASK, "kind": VideoTaskKind.AUDIO, "output": top, "weight": audio_share}
        now.insert(1, audio)
    now.append(
        {"task_id": preview.name, "kind": VideoTaskKind.PREVIEW, "output": preview, "weight": PREVIEW_SHARE}
    )
    pixels = sum(o.width * o.height for o in outputs)
    later: list[dict[str, Any]] = [
        {
            "task_id": assembly_task_id(output.name),
            "kind": VideoTaskKind.ASSEMBLE,
            "output": output,
            "weight": ASSEMBLY_SHARE * output.width * output.height / pixels,
        }
        for output in outputs
    ]
    keys = spread_keys(job.job_id, len(now) + len(later), VIDEO_TASKS.partitions)
    return (
        [
            VideoTaskRequested(**common, **task, partition_key=key)
            for task, key in zip(now, keys, strict=False)
        ],
        [
            VideoTaskRequested(**common, **task, partition_key=key)
            for task, key in zip(later, keys[len(now) :], strict=True)
        ],
    )


def playable_first(tasks: list[VideoTaskRequested]) -> tuple[str, ...]:
    """The tasks that make a job playable: its first chunk and its audio."""
    return tuple(
        t.task_id
        for t in tasks
        if (t.kind == VideoTaskKind.CHUNK and t.chunk == 0) or t.kind == VideoTaskKind.AUDIO
    )


@dataclass
class VideoJobPlanner:
    announcer: JobAnnouncer
    limits: VideoLimits
    scratch_root: Path | None = None
    ffprobe: str = "ffprobe"
    #: Seconds of video per chunk task (`ChunkSettings.chunk_s`).
    chunk_s: int = 8
    #: Segments in the first chunk (`ChunkSettings.first_chunk_segments`): the sooner it is done,
    #: the sooner the video plays.
    first_chunk_segments: int = 1
    #: An AV1 variant of the top rung too (`ChunkSettings.av1`).
    av1: bool = False
    #: Originals this large or larger are probed by URL (`ChunkSettings.read_by_url_from_bytes`).
    read_by_url_from_bytes: int = 0

    @storage_outages_are_infrastructure
    async def __call__(self, job: JobRequested, delivery: Delivery) -> None:
        if await self.announcer.announce_if_finished(job.job_id, job.correlation_id):
            log.info("video job %s finished before (redelivery): announced again", job.job_id)
            return
        await self.announcer.report(job.job_id, job.correlation_id, JobStatus.PROCESSING)
        try:
            probe = await self._probe(job)
            check_limits(probe, job.size_bytes, self.limits)
        except MediaRejected as rejected:
            await self.announcer.fail(job.job_id, job.correlation_id, str(rejected))
            return
        tasks, assembly = plan_tasks(
            job,
            probe,
            chunk_s=self.chunk_s,
            segment_s=self.limits.hls_segment_s,
            first_chunk_segments=self.first_chunk_segments,
            av1=self.av1,
        )
        store = self.announcer.store
        first = playable_first(tasks)
        plan = JobPlan(job_id=job.job_id, tasks=tuple(tasks), assembly=tuple(assembly), first=first)
        # The plan is stored before any task exists, so completion always knows the whole job.
        await asyncio.to_thread(
            store.put_json, store.renditions_bucket, plan_key(job.job_id), plan.model_dump(mode="json")
        )
        # The rest once these are done (VideoJobCompletion): the job plays as soon as it can.
        for task in tasks:
            if task.task_id in first:
                await self.announcer.producer.publish(VIDEO_TASKS, task)
        log.info(
            "video job %s: %dx%d, %.1f s, %s audio -> tasks %s",
            job.job_id,
            probe.width,
            probe.height,
            probe.duration_s,
            "with" if probe.has_audio else "no",
            f"{len(tasks)} tasks",
        )

    async def give_up(self, job: JobRequested, reason: str) -> None:
        await self.announcer.fail(
            job.job_id, job.correlation_id, f"internal error, retries exhausted: {reason}"
        )

    async def _probe(self, job: JobRequested) -> VideoProbe:
        """ffprobe's facts of the original: read by URL when it is large (its headers and index only,
        by ranges, as the chunk tasks read it), else downloaded."""
        store, bucket, key = self.announcer.store, self.announcer.store.uploads_bucket, job.source_key
        stored = await asyncio.to_thread(store.stat, bucket, key)
        if stored is None:
            raise MediaRejected("the uploaded original is missing from storage")
        if stored.size >= self.read_by_url_from_bytes:
            head = await asyncio.to_thread(store.read_range, bucket, key, 0, 64)
            demuxer = VIDEO_DEMUXERS.get(sniff_video(head) or "")
            if demuxer is not None:
                url = store.internal_get_url(bucket, key, PROBE_URL_EXPIRY_S)
                ranged = store.open_ranged(bucket, key, stored.size)
                with ranged:
                    return await probe_remote_video(
                        RemoteSource(url, demuxer), ranged, stored.size, self.ffprobe
                    )
        with scratch_folder(ScratchKind.VIDEO_PROBE, job.job_id, self.scratch_root) as scratch:
            source = Path(scratch) / "original"
            await asyncio.to_thread(store.download, bucket, key, source)
            return await probe_video(source, self.ffprobe)
