"""`video.tasks.finished`, keyed by job: the packager and the job's completion.

As chunks finish (in any order), the rung playlists list the segments of the chunks done without a
gap from the start (`EVENT`: only ever appended); the master playlist is written, and the job
announced playable, as soon as the first chunk (and the audio) is stored. Once every chunk and the
audio are done, the playlists end (`EXT-X-ENDLIST`) and the MP4 assemblies and the previews (tiled
from the thumbnails the chunks took) are started; once those are done too, the thumbnails are
removed, the manifest is written and the job announced done. The first failed task fails the job.

One consumer sees all of a job's results in order (they share a partition), and every effect is
idempotent: the markers in storage, not memory, say which tasks are done, so a redelivered result or
a restarted worker reaches the same answer.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TypeVar

from services.reencoder.job_outcome import JobAnnouncer, remove_outputs
from services.reencoder.renditions import manifest_key
from services.reencoder.storage_outages import storage_outages_are_infrastructure
from services.reencoder.video import keys
from services.reencoder.video.commands import output_frame_rate
from services.reencoder.video.hls import Variant, bandwidths, master_playlist, media_playlist
from services.reencoder.video.results import JobPlan, TaskResult
from shared.events import (
    JOBS_STATUS,
    VIDEO_TASKS,
    JobStatus,
    Rendition,
    VideoTaskFinished,
    VideoTaskKind,
    VideoTaskRequested,
    utc_now,
)
from shared.kafka import Delivery
from shared.media import HLS_CONTENT_TYPES

log = logging.getLogger(__name__)

HLS_RENDITION = "hls"
AUDIO = "audio"
M3U8 = HLS_CONTENT_TYPES[".m3u8"]


@dataclass(frozen=True)
class _Progress:
    """What storage says of a job: its plan and the done-markers found."""

    plan: JobPlan
    done: frozenset[str]

    def all_done(self, task_ids: list[str]) -> bool:
        return all(task_id in self.done for task_id in task_ids)

    @property
    def chunk_ids(self) -> list[str]:
        return [t.task_id for t in self.plan.tasks if t.kind == VideoTaskKind.CHUNK]

    @property
    def ready_chunks(self) -> list[str]:
        """The chunks done without a gap from the first: what the playlists may list."""
        ready = []
        for task_id in self.chunk_ids:
            if task_id not in self.done:
                break
            ready.append(task_id)
        return ready

    @property
    def encoding(self) -> list[str]:
        """The tasks that read the original: every chunk and the audio."""
        return [t.task_id for t in self.plan.tasks if t.kind != VideoTaskKind.PREVIEW]

    @property
    def after_encoding(self) -> list[VideoTaskRequested]:
        """The tasks started once the encoding is done: the previews (they tile the chunks'
        thumbnails) and the MP4 assemblies."""
        previews = [t for t in self.plan.tasks if t.kind == VideoTaskKind.PREVIEW]
        return [*previews, *self.plan.assembly]

    @property
    def has_audio(self) -> bool:
        return any(t.kind == VideoTaskKind.AUDIO for t in self.plan.tasks)


K = TypeVar("K")
V = TypeVar("V")


class _Recent(OrderedDict[K, V]):
    """A dict of at most `limit` entries: storing one more drops the least recently used."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def recall(self, key: K) -> V | None:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def keep(self, key: K, value: V) -> V:
        self[key] = value
        self.move_to_end(key)
        if len(self) > self.limit:
            self.popitem(last=False)
        return value


#: Done-markers kept in memory (a few KiB each): more than the chunks of the longest video (3 h in
#: 8 s chunks is 1350), so one job's packaging never reads a marker twice.
KEPT_RESULTS = 8192

#: Plans kept in memory: the jobs one worker's completion partitions have running at once.
KEPT_PLANS = 256


@dataclass
class VideoJobCompletion:
    """The packager: every finished task costs one listing of the job's markers and reads only the
    plan and markers it has not read before (a marker never changes once written), so packaging a job of n
    chunks reads n markers, not n²/2. The playlists are rewritten only when the chunks ready from
    the start grow. What it keeps is only a shortcut: a restarted worker or another one reads
    storage again and reaches the same playlists."""

    announcer: JobAnnouncer
    _results: _Recent[tuple[str, str], TaskResult] = field(
        default_factory=lambda: _Recent(KEPT_RESULTS), init=False, repr=False
    )
    _plans: _Recent[str, JobPlan] = field(default_factory=lambda: _Recent(KEPT_PLANS), init=False, repr=False)
    #: job -> (chunks ready, audio ready) when its playlists were last written by this process.
    _written: _Recent[str, tuple[int, bool]] = field(
        default_factory=lambda: _Recent(KEPT_RESULTS), init=False, repr=False
    )

    @storage_outages_are_infrastructure
    async def __call__(self, finished: VideoTaskFinished, delivery: Delivery) -> None:
        job_id, correlation_id = finished.job_id, finished.correlation_id
        if await self._is_settled(job_id):
            return
        if not finished.ok:
            self._forget(job_id)
            await self.announcer.fail(job_id, correlation_id, finished.error or "a video task failed")
            return
        progress = await asyncio.to_thread(self._progress, job_id)
        if progress is None:
            return
        if finished.task_id in progress.chunk_ids or finished.task_id == AUDIO:
            await self._package(progress, correlation_id)
        if finished.task_id in progress.plan.first and progress.all_done(list(progress.plan.first)):
            await self._start_the_rest(progress)
        encoding, after = progress.encoding, progress.after_encoding
        if not progress.all_done(encoding):
            return
        if not progress.all_done([t.task_id for t in after]):
            if finished.task_id in encoding:
                # The last of the encoding (or its redelivery: the tasks after are idempotent too).
                for task in after:
                    if task.task_id not in progress.done:
                        await self.announcer.producer.publish(VIDEO_TASKS, task)
            return
        renditions = await asyncio.to_thread(self._write_manifest, progress)
        self._forget(job_id)
        log.info("video job %s: done, %d renditions", job_id, len(renditions))
        await self.announcer.report(
            job_id, correlation_id, JobStatus.DONE, progress=1.0, renditions=renditions
        )

    async def give_up(self, finished: VideoTaskFinished, reason: str) -> None:
        """Completion keeps failing (storage down?): fail the job rather than leave it running forever."""
        await self.announcer.fail(
            finished.job_id, finished.correlation_id, f"internal error, retries exhausted: {reason}"
        )

    async def _is_settled(self, job_id: str) -> bool:
        store = self.announcer.store
        for key in (manifest_key(job_id), keys.failed_marker_key(job_id)):
            if await asyncio.to_thread(store.stat, store.renditions_bucket, key) is not None:
                return True
        return False

    async def _start_the_rest(self, progress: _Progress) -> None:
        """Publish the tasks after the first ones, once (a marker, written after them, says so; a
        crash in between publishes them again, which their done-markers make harmless)."""
        store, plan = self.announcer.store, progress.plan
        marker = keys.rest_published_key(plan.job_id)
        if await asyncio.to_thread(store.stat, store.renditions_bucket, marker) is not None:
            return
        skipped = {*plan.first, *progress.done}
        for task in plan.tasks:
            # The previews wait for the chunks' thumbnails (they start with the assemblies).
            if task.kind != VideoTaskKind.PREVIEW and task.task_id not in skipped:
                await self.announcer.producer.publish(VIDEO_TASKS, task)
        await asyncio.to_thread(store.put_json, store.renditions_bucket, marker, {"job_id": plan.job_id})

    def _progress(self, job_id: str) -> _Progress | None:
        store = self.announcer.store
        plan = self._plan(job_id)
        if plan is None:
            return None
        prefix = keys.tasks_prefix(job_id)
        done = frozenset(
            key.removeprefix(prefix).removesuffix(".json")
            for key in store.list_keys(store.renditions_bucket, prefix)
        )
        return _Progress(plan, done)

    def _plan(self, job_id: str) -> JobPlan | None:
        """The job's plan, read once: it names every task (its size grows with the video) and the
        planner writes it once, before any task exists."""
        plan = self._plans.recall(job_id)
        if plan is None:
            store = self.announcer.store
            plan_doc = store.get_json(store.renditions_bucket, keys.plan_key(job_id))
            if plan_doc is None:
                return None
            plan = self._plans.keep(job_id, JobPlan.model_validate(plan_doc))
        return plan

    def _result(self, job_id: str, task_id: str) -> TaskResult:
        """A done-marker, read once (markers are written once, last, by the attempt that finished)."""
        key = (job_id, task_id)
        result = self._results.recall(key)
        if result is None:
            store = self.announcer.store
            marker = store.get_json(store.renditions_bucket, keys.task_marker_key(job_id, task_id))
            result = self._results.keep(key, TaskResult.model_validate(marker))
        return result

    def _forget(self, job_id: str) -> None:
        """A finished job's markers and state are needed no more."""
        for key in [key for key in self._results if key[0] == job_id]:
            del self._results[key]
        self._written.pop(job_id, None)
        self._plans.pop(job_id, None)

    async def _package(self, progress: _Progress, correlation_id: str) -> None:
        """Rewrite the rung playlists with the chunks ready; the master once the job can play."""
        job_id = progress.plan.job_id
        ready = progress.ready_chunks
        if not ready:
            return
        audio_ready = not progress.has_audio or AUDIO in progress.done
        ended = len(ready) == len(progress.chunk_ids)
        if self._written.get(job_id) == (len(ready), audio_ready):
            return  # a chunk after a gap, or a redelivery: the playlists already say all they can
        first_time = await asyncio.to_thread(self._write_playlists, progress, ready, ended, audio_ready)
        if first_time:
            log.info("video job %s: playable (%d of %d chunks)", job_id, len(ready), len(progress.chunk_ids))
            event = self.announcer.status_event(job_id, correlation_id, JobStatus.PROCESSING)
            await self.announcer.producer.publish(
                JOBS_STATUS, event.model_copy(update={"playable_at": utc_now()})
            )
        # Noted once all of it is done: a redelivery after a failure above does it again.
        self._written.keep(job_id, (len(ready), audio_ready))

    def _write_playlists(self, progress: _Progress, ready: list[str], ended: bool, audio_ready: bool) -> bool:
        """Write the variant playlists and (when the audio is there) the master; True when the master
        is written for the first time."""
        store, plan = self.announcer.store, progress.plan
        job_id = plan.job_id
        results = [self._result(job_id, task_id) for task_id in ready]
        first_chunk = plan.tasks[0]
        variants = []
        for output in first_chunk.outputs:
            segments = [(s.file, s.seconds) for r in results for s in r.segments[output.name]]
            text = media_playlist(segments, segment_s=first_chunk.segment_s, init_uri="init.mp4", ended=ended)
            self._put_text(keys.hls_file_key(job_id, output.name, "index.m3u8"), text)
            sizes = {s.file: s.bytes for r in results for s in r.segments[output.name]}
            peak, average = bandwidths(dict(segments), sizes)
            codecs = results[0].codecs[output.name] + (",mp4a.40.2" if progress.has_audio else "")
            variants.append(
                Variant(
                    name=output.name,
                    width=output.width,
                    height=output.height,
                    bandwidth=peak,
                    average_bandwidth=average,
                    codecs=codecs,
                    frame_rate=output_frame_rate(first_chunk.frame_rate),
                )
            )
        if not audio_ready:
            return False
        master_key = keys.master_playlist_key(job_id)
        existed = store.stat(store.renditions_bucket, master_key) is not None
        audio_uri = f"{HLS_RENDITION}/{AUDIO}/index.m3u8" if progress.has_audio else None
        master = master_playlist(
            variants,
            {v.name: f"{HLS_RENDITION}/{v.name}/index.m3u8" for v in variants},
            audio_uri=audio_uri,
            audio_kbps=first_chunk.outputs[-1].audio_kbps,
        )
        self._put_text(master_key, master)
        return not existed

    def _put_text(self, key: str, text: str) -> None:
        store, data = self.announcer.store, text.encode()
        store.put_stream(store.renditions_bucket, key, io.BytesIO(data), len(data), M3U8)

    def _write_manifest(self, progress: _Progress) -> tuple[Rendition, ...]:
        """The manifest, written last: its presence means the job is complete. The sprite's thumbnails
        go first: the preview task (done) needs them no more."""
        store, plan = self.announcer.store, progress.plan
        job_id = plan.job_id
        remove_outputs(store, keys.thumbnails_prefix(job_id))
        results = [
            self._result(job_id, task.task_id)
            for task in (*plan.tasks, *plan.assembly)
            # The first chunk brings the poster.
            if task.kind in (VideoTaskKind.PREVIEW, VideoTaskKind.ASSEMBLE) or task is plan.tasks[0]
        ]
        master_key = keys.master_playlist_key(job_id)
        master = store.stat(store.renditions_bucket, master_key)
        largest = max(plan.tasks[0].outputs, key=lambda o: o.width * o.height)
        hls = Rendition(
            name=HLS_RENDITION,
            content_type=M3U8,
            width=largest.width,
            height=largest.height,
            bytes=master.size if master is not None else 0,
            key=master_key,
        )
        renditions = (*(r for result in results for r in result.renditions), hls)
        store.put_json(
            store.renditions_bucket,
            manifest_key(job_id),
            {"job_id": job_id, "renditions": [r.model_dump() for r in renditions]},
        )
        return renditions
