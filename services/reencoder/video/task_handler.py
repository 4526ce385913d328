"""One `video.tasks` event: encode one output of a job, store it, leave a done-marker, report.

Idempotent: outputs have deterministic keys and the done-marker is written last, so a redelivered
task (a worker killed mid-encode, a rebalance) is either redone into the same keys or, if it had
finished, only reported again. A task of a job that already failed does nothing. An attempt never
removes or overwrites outputs of another that finished: the done-marker is checked before
uploading and before any cleanup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from services.reencoder.job_outcome import remove_outputs
from services.reencoder.metrics import PREVIEW_RUNG
from services.reencoder.scratch import ScratchKind, scratch_folder
from services.reencoder.storage_outages import storage_outages_are_infrastructure
from services.reencoder.timing import PhaseTimer, TimingReporter
from services.reencoder.video import fmp4, keys
from services.reencoder.video.commands import (
    SPRITE_COLUMNS,
    SPRITE_COUNT,
    SPRITE_ROWS,
    RemoteSource,
    Source,
    Thumbnails,
    assemble_command,
    audio_command,
    chunk_command,
    poster_command,
)
from services.reencoder.video.ffmpeg_runner import (
    EncodeFailed,
    EncodeTimedOut,
    ProgressCallback,
    ProgressThrottle,
    run_ffmpeg,
)
from services.reencoder.video.hls import media_playlist, segment_durations
from services.reencoder.video.ladder import THUMBNAIL_EDGE, fit_long_edge, plan_preview
from services.reencoder.video.results import Segment, TaskResult
from services.reencoder.video.sprite import tile_sprite
from services.reencoder.video.storyboard import storyboard_vtt
from shared.events import (
    VIDEO_PROGRESS,
    VIDEO_TASKS_FINISHED,
    Rendition,
    VideoTaskFinished,
    VideoTaskKind,
    VideoTaskProgress,
    VideoTaskRequested,
    WorkKind,
    WorkOutcome,
)
from shared.kafka import Delivery, EventProducer, InfrastructureError
from shared.media import HLS_CONTENT_TYPES, VIDEO_DEMUXERS, MediaRejected, sniff_video
from shared.settings import VideoLimits
from shared.storage import MediaStore

log = logging.getLogger(__name__)

MP4 = "video/mp4"
JPEG = "image/jpeg"
VTT = "text/vtt"
M3U8 = HLS_CONTENT_TYPES[".m3u8"]
M4S = HLS_CONTENT_TYPES[".m4s"]
#: The name of the audio rendition (its folder beside the rungs' and its task id).
AUDIO = "audio"
#: A remote original's URL outlives the task's budget by this much (clocks differ a little).
URL_MARGIN_S = 60
#: The longest validity S3 signs a URL for (seven days).
MAX_PRESIGN_S = 7 * 24 * 3600


class JobAlreadyFailed(Exception):
    """Another task failed the job while this one ran: its work is no longer wanted."""


class DoneElsewhere(Exception):
    """Another attempt at the same task finished it while this one ran."""


@dataclass
class _Reports:
    """One running task's progress reports: ffmpeg's and the keep-alive share one throttle."""

    throttle: ProgressThrottle
    #: The latest fraction ffmpeg reported.
    fraction: float = 0.0
    #: When the last report was published (an ffmpeg report is published after a storage check).
    sent_at: float = float("-inf")


@dataclass
class VideoTaskHandler:
    store: MediaStore
    producer: EventProducer
    worker_id: str
    limits: VideoLimits
    timings: TimingReporter
    scratch_root: Path | None = None
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    #: Chunk tasks read an original this large or larger by a presigned URL, not downloaded
    #: (`ChunkSettings.read_by_url_from_bytes`).
    read_by_url_from_bytes: int = 0
    _reports: dict[tuple[str, str], _Reports] = field(default_factory=dict, init=False, repr=False)

    @storage_outages_are_infrastructure
    async def __call__(self, task: VideoTaskRequested, delivery: Delivery) -> None:
        if await self._job_failed(task):
            log.info("task %s/%s skipped: the job has failed", task.job_id, task.task_id)
            return
        if await self._is_done(task):
            log.info("task %s/%s was done before (redelivery): reported again", task.job_id, task.task_id)
            await self._finished(task, error=None)
            return

        log.info("task %s/%s: started (attempt %d)", task.job_id, task.task_id, delivery.attempt)
        timer = PhaseTimer()
        with (
            self.timings.metrics.busy(_work_kind(task)),
            scratch_folder(
                ScratchKind.VIDEO_TASK, f"{task.job_id}-{task.task_id}", self.scratch_root
            ) as scratch_dir,
        ):
            scratch = Path(scratch_dir)
            try:
                async with self._reporting(task):
                    result = await self._within_budget(task, scratch, timer)
            except DoneElsewhere:
                # A duplicate attempt (the record redelivered to a second worker after a rebalance)
                # finished first: its outputs stand, untouched by this one.
                log.info("task %s/%s was finished by another attempt meanwhile", task.job_id, task.task_id)
                await self._finished(task, error=None)
                return
            except JobAlreadyFailed:
                await asyncio.to_thread(self._remove_own_outputs, task)
                log.info("task %s/%s stopped: the job has failed", task.job_id, task.task_id)
                await self._timed(task, timer, WorkOutcome.FAILED)
                return
            except MediaRejected as rejected:
                reason = str(rejected).replace(str(scratch) + "/", "")
                if await self._is_done(task):
                    # This attempt failed (timed out, say) but another one finished the task: what
                    # it published is not this attempt's to remove, nor the job's to fail.
                    log.info(
                        "task %s/%s: failed here (%s), done elsewhere", task.job_id, task.task_id, reason
                    )
                    await self._finished(task, error=None)
                    return
                await asyncio.to_thread(self._remove_own_outputs, task)
                log.info("task %s/%s failed: %s", task.job_id, task.task_id, reason)
                await self._timed(task, timer, WorkOutcome.FAILED)
                await self._finished(task, error=reason)
                return
        marker = keys.task_marker_key(task.job_id, task.task_id)
        await asyncio.to_thread(
            self.store.put_json, self.store.renditions_bucket, marker, result.model_dump(mode="json")
        )
        if await self._job_failed(task):
            # Another task failed the job while this one encoded: leave nothing behind.
            await asyncio.to_thread(self._remove_own_outputs, task)
            await asyncio.to_thread(self.store.remove_prefix, self.store.renditions_bucket, marker)
            await self._timed(task, timer, WorkOutcome.FAILED)
            return
        log.info("task %s/%s: done", task.job_id, task.task_id)
        await self._timed(task, timer, WorkOutcome.DONE)
        await self._finished(task, error=None)

    async def give_up(self, task: VideoTaskRequested, reason: str) -> None:
        """Retries are exhausted: fail the job instead of leaving it encoding forever (unless another
        attempt finished the task meanwhile)."""
        if await self._is_done(task):
            await self._finished(task, error=None)
            return
        self.timings.metrics.given_up.labels(_work_kind(task).value).inc()
        await self._finished(task, error=f"internal error, retries exhausted: {reason}")

    async def _is_done(self, task: VideoTaskRequested) -> bool:
        """Whether some attempt finished the task: its done-marker is written after all its outputs."""
        marker = keys.task_marker_key(task.job_id, task.task_id)
        return await asyncio.to_thread(self.store.stat, self.store.renditions_bucket, marker) is not None

    async def _before_upload(self, task: VideoTaskRequested) -> None:
        """Outputs are published only by an attempt that finds the task not yet done: a late duplicate
        never overwrites objects the site may already be serving."""
        if await self._is_done(task):
            raise DoneElsewhere(task.task_id)

    async def _within_budget(self, task: VideoTaskRequested, scratch: Path, timer: PhaseTimer) -> TaskResult:
        """The whole task (download, encode, package, upload) gets one time budget; ffmpeg is killed
        when it runs out."""
        limit_s = self.limits.task_timeout_s
        try:
            async with asyncio.timeout(limit_s):
                return await self._make_outputs(task, scratch, timer)
        except TimeoutError:
            if timer.broken_off in ("download", "upload"):
                # Storage, not the video, used up the budget: an outage to wait out, not a failure.
                raise InfrastructureError(
                    f"object storage did not finish the {timer.broken_off} within the task's {limit_s:g} s"
                ) from None
            raise EncodeTimedOut(f"encoding took longer than the {limit_s:g} s limit per task") from None

    async def _make_outputs(self, task: VideoTaskRequested, scratch: Path, timer: PhaseTimer) -> TaskResult:
        if task.kind == VideoTaskKind.ASSEMBLE:
            return await self._assemble(task, scratch, timer)
        if task.kind == VideoTaskKind.PREVIEW:
            # From the chunks' thumbnails: the original is not read again.
            renditions = await self._previews(task, scratch, timer)
            return TaskResult(task_id=task.task_id, worker_id=self.worker_id, renditions=renditions)
        bucket = self.store.uploads_bucket
        with timer.phase("download"):
            stored = await asyncio.to_thread(self.store.stat, bucket, task.source_key)
        if stored is None:
            raise MediaRejected("the uploaded original is missing from storage")
        if task.kind == VideoTaskKind.CHUNK and stored.size >= self.read_by_url_from_bytes:
            remote = await self._remote_original(task, timer)
            if remote is not None:
                try:
                    return await self._chunk(task, remote, scratch, timer)
                except EncodeTimedOut:
                    raise
                except EncodeFailed as failed:
                    # Storage's HTTP answers may not suit ffmpeg (a proxy without ranges, a
                    # certificate it cannot check): the downloaded original decides. A video
                    # that cannot be decoded fails again there, with the message of a file.
                    log.warning(
                        "task %s/%s: reading the original by URL failed (%s); downloading it",
                        *(task.job_id, task.task_id, str(failed).replace(remote.url, "the URL")),
                    )
                    shutil.rmtree(scratch / "out", ignore_errors=True)
        source = scratch / "original"
        with timer.phase("download"):
            await asyncio.to_thread(self.store.download, bucket, task.source_key, source)
        timer.bytes_in += source.stat().st_size
        if task.kind == VideoTaskKind.AUDIO:
            return await self._audio(task, source, scratch, timer)
        return await self._chunk(task, source, scratch, timer)

    async def _remote_original(self, task: VideoTaskRequested, timer: PhaseTimer) -> RemoteSource | None:
        """The original as ffmpeg reads it from storage, by a URL signed for the storage endpoint this
        worker reaches, valid for the task's whole budget (ffmpeg asks again at each seek); None when
        its first bytes name no container we read (the downloaded file then fails as before)."""
        bucket, key = self.store.uploads_bucket, task.source_key
        with timer.phase("download"):
            head = await asyncio.to_thread(self.store.read_range, bucket, key, 0, 64)
        demuxer = VIDEO_DEMUXERS.get(sniff_video(head) or "")
        if demuxer is None:
            return None
        expires_s = min(math.ceil(self.limits.task_timeout_s) + URL_MARGIN_S, MAX_PRESIGN_S)
        url = self.store.internal_get_url(bucket, key, expires_s)
        return RemoteSource(url=url, demuxer=demuxer)

    async def _chunk(
        self, task: VideoTaskRequested, source: Source, scratch: Path, timer: PhaseTimer
    ) -> TaskResult:
        """Encode the chunk for every rung (one decode), then store its segments, moved to the chunk's
        place on the timeline, and the sprite's thumbnails in its stretch (from the same decode); the
        first chunk also stores each rung's init segment."""
        out = scratch / "out"
        for output in task.outputs:
            (out / output.name).mkdir(parents=True)
        thumbnails = Thumbnails(
            folder=out / "thumbnails",
            size=_thumbnail_size(task.output.width, task.output.height),
            duration_s=task.duration_s,
            start_s=task.start_s,
        )
        thumbnails.folder.mkdir()
        reaches_end = task.start_s + task.length_s >= task.duration_s - 1e-3
        command = chunk_command(
            source,
            out,
            task.outputs,
            start_s=task.start_s,
            # The last chunk reads to the end, whatever the container said the duration was.
            length_s=None if reaches_end else task.length_s,
            frame_rate=task.frame_rate,
            segment_s=task.segment_s,
            first_segment=task.first_segment,
            threads=self.limits.ffmpeg_threads,
            thumbnails=thumbnails,
            ffmpeg_binary=self.ffmpeg,
        )
        with timer.phase("encode"):
            # What ffmpeg read of a remote original (a downloaded one is counted whole).
            timer.bytes_in += await run_ffmpeg(
                command,
                timeout_s=self.limits.task_timeout_s,
                duration_s=task.length_s,
                on_progress=self._progress_publisher(task),
            )
            self._publish_progress(task, 1.0)
        await self._before_upload(task)
        await self._store_thumbnails(task, timer, thumbnails.folder)
        segments: dict[str, tuple[Segment, ...]] = {}
        codecs: dict[str, str] = {}
        for output in task.outputs:
            folder = out / output.name
            init = (folder / "init.mp4").read_bytes()
            codecs[output.name] = fmp4.codec_string(init)
            ticks = round(task.start_s * fmp4.timescale(init))
            segments[output.name] = await self._store_segments(
                task, timer, output.name, folder, partial(fmp4.shift, ticks=ticks)
            )
            if task.chunk == 0:
                await self._upload(
                    timer, keys.hls_file_key(task.job_id, output.name, "init.mp4"), folder / "init.mp4", MP4
                )
        if not all(segments.values()):
            raise EncodeFailed("ffmpeg could not decode a single frame of the video")
        # The poster with the first chunk: there when the video becomes playable.
        renditions = (await self._poster(task, source, scratch, timer),) if task.chunk == 0 else ()
        return TaskResult(
            task_id=task.task_id,
            worker_id=self.worker_id,
            renditions=renditions,
            segments=segments,
            codecs=codecs,
        )

    async def _store_thumbnails(self, task: VideoTaskRequested, timer: PhaseTimer, folder: Path) -> None:
        """Upload the sprite's thumbnails ffmpeg named by their index (`NNNNN.jpg`); an index past the
        last (the end of the video rounded up) is none of the sprite's."""
        for index, path in await asyncio.to_thread(_thumbnail_files, folder):
            await self._upload(timer, keys.thumbnail_key(task.job_id, index), path, JPEG)

    async def _poster(
        self, task: VideoTaskRequested, source: Source, scratch: Path, timer: PhaseTimer
    ) -> Rendition:
        """A frame a little into the video (the very first is often black), at the preview's size."""
        output = plan_preview(task.output.width, task.output.height)
        poster, at_s = scratch / "poster.jpg", min(1.0, task.duration_s / 10)
        with timer.phase("encode"):
            timer.bytes_in += await run_ffmpeg(
                poster_command(source, poster, output, at_s, self.ffmpeg),
                timeout_s=self.limits.task_timeout_s,
            )
        if not poster.exists() or poster.stat().st_size == 0:
            raise EncodeFailed("ffmpeg could not decode a single frame of the video")
        key = keys.poster_key(task.job_id)
        await self._upload(timer, key, poster, JPEG)
        return Rendition(
            name="poster",
            content_type=JPEG,
            width=output.width,
            height=output.height,
            bytes=poster.stat().st_size,
            key=key,
        )

    async def _audio(
        self, task: VideoTaskRequested, source: Path, scratch: Path, timer: PhaseTimer
    ) -> TaskResult:
        """The whole audio track once, as the HLS audio rendition (complete at once: a VOD playlist)."""
        folder = scratch / AUDIO
        folder.mkdir()
        command = audio_command(
            source,
            folder,
            audio_kbps=task.output.audio_kbps,
            segment_s=task.segment_s,
            ffmpeg_binary=self.ffmpeg,
        )
        with timer.phase("encode"):
            await run_ffmpeg(
                command,
                timeout_s=self.limits.task_timeout_s,
                duration_s=task.duration_s,
                on_progress=self._progress_publisher(task),
            )
            self._publish_progress(task, 1.0)
        await self._before_upload(task)
        stored = await self._store_segments(task, timer, AUDIO, folder, lambda data: data)
        await self._upload(timer, keys.hls_file_key(task.job_id, AUDIO, "init.mp4"), folder / "init.mp4", MP4)
        playlist = folder / "index.m3u8"
        playlist.write_text(
            media_playlist(
                [(s.file, s.seconds) for s in stored],
                segment_s=task.segment_s,
                init_uri="init.mp4",
                ended=True,
            )
        )
        await self._upload(timer, keys.hls_file_key(task.job_id, AUDIO, "index.m3u8"), playlist, M3U8)
        return TaskResult(
            task_id=task.task_id, worker_id=self.worker_id, renditions=(), segments={AUDIO: stored}
        )

    async def _store_segments(
        self,
        task: VideoTaskRequested,
        timer: PhaseTimer,
        name: str,
        folder: Path,
        transform: Callable[[bytes], bytes],
    ) -> tuple[Segment, ...]:
        """Upload the segments ffmpeg listed in `folder/index.m3u8`, each through `transform`."""
        stored = []
        for file, seconds in segment_durations((folder / "index.m3u8").read_text()).items():
            path = folder / file
            path.write_bytes(transform(path.read_bytes()))
            await self._upload(timer, keys.hls_file_key(task.job_id, name, file), path, M4S)
            stored.append(Segment(file=file, seconds=seconds, bytes=path.stat().st_size))
        return tuple(stored)

    async def _assemble(self, task: VideoTaskRequested, scratch: Path, timer: PhaseTimer) -> TaskResult:
        """One rung's MP4 download from its stored segments (and the audio's), without re-encoding."""
        output, job_id, bucket = task.output, task.job_id, self.store.renditions_bucket
        video = scratch / "video.mp4"
        audio = scratch / "audio.mp4" if task.has_audio else None
        with timer.phase("download"):
            chunks = await asyncio.to_thread(self._chunk_results, job_id)
            files = [s.file for result in chunks for s in result.segments[output.name]]
            await asyncio.to_thread(self._stitch, keys.hls_prefix(job_id, output.name), files, video)
            if audio is not None:
                marker = await asyncio.to_thread(
                    self.store.get_json, bucket, keys.task_marker_key(job_id, AUDIO)
                )
                if marker is None:
                    raise MediaRejected("the audio of the video is missing")
                audio_files = [s.file for s in TaskResult.model_validate(marker).segments[AUDIO]]
                await asyncio.to_thread(self._stitch, keys.hls_prefix(job_id, AUDIO), audio_files, audio)
        # What this task read: the rung's segments and the audio's, stitched.
        timer.bytes_in = sum(path.stat().st_size for path in (video, audio) if path is not None)
        mp4 = scratch / f"{output.name}.mp4"
        with timer.phase("encode"):
            await run_ffmpeg(
                assemble_command(video, audio, mp4, self.ffmpeg), timeout_s=self.limits.task_timeout_s
            )
            self._publish_progress(task, 1.0)
        await self._before_upload(task)
        mp4_key = keys.mp4_key(job_id, output.name)
        await self._upload(timer, mp4_key, mp4, MP4)
        rendition = Rendition(
            name=output.name,
            content_type=MP4,
            width=output.width,
            height=output.height,
            bytes=mp4.stat().st_size,
            key=mp4_key,
        )
        return TaskResult(task_id=task.task_id, worker_id=self.worker_id, renditions=(rendition,))

    def _chunk_results(self, job_id: str) -> list[TaskResult]:
        """The done-markers of a job's chunks, in order (all exist: assembly starts after the last)."""
        bucket = self.store.renditions_bucket
        found = sorted(
            key for key in self.store.list_keys(bucket, keys.tasks_prefix(job_id)) if "/chunk-" in key
        )
        return [TaskResult.model_validate(self.store.get_json(bucket, key)) for key in found]

    def _stitch(self, prefix: str, files: list[str], target: Path) -> None:
        """init segment + the media of every segment, in order: one fragmented MP4."""
        bucket = self.store.renditions_bucket
        part = target.with_suffix(".part")
        with target.open("wb") as stitched:
            self.store.download(bucket, prefix + "init.mp4", part)
            stitched.write(part.read_bytes())
            for file in files:
                self.store.download(bucket, prefix + file, part)
                stitched.write(fmp4.media_only(part.read_bytes()))
        part.unlink(missing_ok=True)

    async def _previews(
        self, task: VideoTaskRequested, scratch: Path, timer: PhaseTimer
    ) -> tuple[Rendition, ...]:
        """The sprite over the whole video, tiled from the thumbnails the chunks stored, and its
        storyboard (the poster comes with the first chunk). The thumbnails stay until the job is done
        (completion removes them), so a redone preview task tiles the same sprite."""
        output = task.output
        thumbnail = fit_long_edge(output.width, output.height, THUMBNAIL_EDGE)
        with timer.phase("download"):
            thumbnails = await asyncio.to_thread(
                self._download_thumbnails, task.job_id, scratch / "thumbnails"
            )
        timer.bytes_in += sum(path.stat().st_size for path in thumbnails.values())
        sprite = scratch / "sprite.jpg"
        with timer.phase("encode"):
            sprite_size = await asyncio.to_thread(
                tile_sprite, thumbnails, thumbnail, SPRITE_COLUMNS, SPRITE_ROWS, sprite
            )
        storyboard = scratch / "storyboard.vtt"
        storyboard.write_text(
            storyboard_vtt(task.duration_s, thumbnail, SPRITE_COLUMNS, SPRITE_ROWS, sprite_uri="sprite.jpg")
        )
        made = (
            ("sprite", sprite, keys.sprite_key(task.job_id), sprite_size, JPEG),
            # The sprite's tiles by time: the player's hover previews on the timeline.
            ("storyboard", storyboard, keys.storyboard_key(task.job_id), thumbnail, VTT),
        )
        await self._before_upload(task)
        renditions = []
        for name, path, key, (width, height), content_type in made:
            await self._upload(timer, key, path, content_type)
            renditions.append(
                Rendition(
                    name=name,
                    content_type=content_type,
                    width=width,
                    height=height,
                    bytes=path.stat().st_size,
                    key=key,
                )
            )
        self._publish_progress(task, 1.0)
        return tuple(renditions)

    def _download_thumbnails(self, job_id: str, folder: Path) -> dict[int, Path]:
        """The sprite's thumbnails the chunks stored, by index (any may be missing)."""
        folder.mkdir(exist_ok=True)
        found: dict[int, Path] = {}
        bucket = self.store.renditions_bucket
        for key in self.store.list_keys(bucket, keys.thumbnails_prefix(job_id)):
            index = keys.thumbnail_index(key)
            if index is not None and index < SPRITE_COUNT:
                path = folder / f"{index:05d}.jpg"
                self.store.download(bucket, key, path)
                found[index] = path
        return found

    async def _upload(self, timer: PhaseTimer, key: str, path: Path, content_type: str) -> None:
        """Store one output in the renditions bucket, timed and counted as upload."""
        with timer.phase("upload"):
            timer.bytes_out += await asyncio.to_thread(self._put_file, key, path, content_type)

    def _put_file(self, key: str, path: Path, content_type: str) -> int:
        self.store.put_file(self.store.renditions_bucket, key, path, content_type)
        return path.stat().st_size

    async def _timed(self, task: VideoTaskRequested, timer: PhaseTimer, outcome: WorkOutcome) -> None:
        await self.timings.report(
            timer,
            correlation_id=task.correlation_id,
            job_id=task.job_id,
            task_id=task.task_id,
            kind=_work_kind(task),
            requested_at=task.occurred_at,
            outcome=outcome,
            rung=_rung_label(task),
            media_s=task.duration_s,
        )

    @contextlib.asynccontextmanager
    async def _reporting(self, task: VideoTaskRequested) -> AsyncIterator[None]:
        """Until the encode ends, the last fraction is sent again whenever nothing was reported for
        `progress_interval_s` (the download, the previews' tiling, which reports nothing): monitoring
        reads a worker that reports as busy, not stuck (services/monitoring/lag.py)."""
        key = (task.job_id, task.task_id)
        reports = self._reports[key] = _Reports(
            ProgressThrottle(self.limits.progress_interval_s, time.monotonic)
        )

        async def keep_reporting() -> None:
            while reports.fraction < 1.0:
                await asyncio.sleep(self.limits.progress_interval_s / 4)
                quiet_s = time.monotonic() - reports.sent_at
                if (
                    reports.fraction < 1.0
                    and quiet_s >= self.limits.progress_interval_s
                    and reports.throttle.due()
                ):
                    self._publish_progress(task, reports.fraction)

        ticker = asyncio.create_task(keep_reporting(), name=f"progress-{task.job_id}-{task.task_id}")
        try:
            yield
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            self._reports.pop(key, None)

    def _progress_publisher(self, task: VideoTaskRequested) -> ProgressCallback:
        reports = self._reports.get((task.job_id, task.task_id))
        throttle = (
            reports.throttle if reports else ProgressThrottle(self.limits.progress_interval_s, time.monotonic)
        )

        async def publish(fraction: float) -> None:
            if reports is not None:
                reports.fraction = fraction  # the keep-alive sends the latest, throttled or not
            if throttle.due():
                # Once a second is also when to notice that a sibling task failed the job: raising
                # here stops ffmpeg (run_ffmpeg kills it) instead of encoding for nothing.
                if await self._job_failed_if_known(task):
                    raise JobAlreadyFailed(task.job_id)
                self._publish_progress(task, fraction)

        return publish

    async def _job_failed_if_known(self, task: VideoTaskRequested) -> bool:
        """`_job_failed`, but a storage hiccup only means "not known to have failed": the check is
        an optimisation, and must not abort an encode that storage will accept a moment later."""
        try:
            return await self._job_failed(task)
        except Exception as error:
            log.debug("task %s/%s: could not check the job's state: %r", task.job_id, task.task_id, error)
            return False

    def _publish_progress(self, task: VideoTaskRequested, fraction: float) -> None:
        """Best effort, in the background: progress never waits for Kafka nor fails the task."""
        reports = self._reports.get((task.job_id, task.task_id))
        if reports is not None:
            reports.fraction, reports.sent_at = fraction, time.monotonic()
        self.timings.reports.send(
            VIDEO_PROGRESS,
            VideoTaskProgress(
                correlation_id=task.correlation_id,
                job_id=task.job_id,
                task_id=task.task_id,
                weight=task.weight,
                fraction=fraction,
                worker_id=self.worker_id,
            ),
        )

    async def _finished(self, task: VideoTaskRequested, error: str | None) -> None:
        await self.producer.publish(
            VIDEO_TASKS_FINISHED,
            VideoTaskFinished(
                correlation_id=task.correlation_id,
                job_id=task.job_id,
                task_id=task.task_id,
                ok=error is None,
                error=error,
                worker_id=self.worker_id,
            ),
        )

    async def _job_failed(self, task: VideoTaskRequested) -> bool:
        key = keys.failed_marker_key(task.job_id)
        return await asyncio.to_thread(self.store.stat, self.store.renditions_bucket, key) is not None

    def _remove_own_outputs(self, task: VideoTaskRequested) -> None:
        job_id, name = task.job_id, task.output.name
        if task.kind == VideoTaskKind.PREVIEW:
            for key in (keys.sprite_key(job_id), keys.storyboard_key(job_id)):
                self.store.remove_prefix(self.store.renditions_bucket, key)
            return
        if task.kind == VideoTaskKind.ASSEMBLE:
            self.store.remove_prefix(self.store.renditions_bucket, keys.mp4_key(job_id, name))
        elif task.kind == VideoTaskKind.AUDIO:
            remove_outputs(self.store, keys.hls_prefix(job_id, AUDIO))
        else:
            if task.chunk == 0:
                # The first chunk also stores the poster and every rung's init segment.
                self.store.remove_prefix(self.store.renditions_bucket, keys.poster_key(job_id))
                for output in task.outputs:
                    init = keys.hls_file_key(job_id, output.name, "init.mp4")
                    self.store.remove_prefix(self.store.renditions_bucket, init)
            # The sprite's thumbnails in its stretch (the job failed: a neighbour's are unwanted too).
            for index in _own_thumbnails(task):
                self.store.remove_prefix(self.store.renditions_bucket, keys.thumbnail_key(job_id, index))
            # Only this chunk's segments: the other chunks' belong to other tasks.
            for output in task.outputs:
                for key in self.store.list_keys(
                    self.store.renditions_bucket, keys.hls_prefix(job_id, output.name)
                ):
                    if _is_own_segment(task, _segment_number(key)):
                        self.store.remove_prefix(self.store.renditions_bucket, key)


def _is_own_segment(task: VideoTaskRequested, number: int) -> bool:
    """Whether the segment numbered `number` belongs to chunk `task` (the last chunk owns the tail)."""
    if number < task.first_segment:
        return False
    if task.start_s + task.length_s >= task.duration_s - 1e-3:
        return True
    return number < task.first_segment + round(task.length_s / task.segment_s)


def _thumbnail_files(folder: Path) -> list[tuple[int, Path]]:
    """The thumbnails ffmpeg wrote in `folder` by index, those of the sprite only."""
    named = ((path.stem, path) for path in sorted(folder.glob("*.jpg")))
    return [(int(stem), path) for stem, path in named if stem.isdigit() and int(stem) < SPRITE_COUNT]


def _own_thumbnails(task: VideoTaskRequested) -> range:
    """The indices of the sprite's thumbnails chunk `task` may have stored (its stretch, rounded out)."""
    per_s = SPRITE_COUNT / max(task.duration_s, 0.1)
    first = max(0, math.floor(task.start_s * per_s))
    return range(first, min(SPRITE_COUNT, math.ceil((task.start_s + task.length_s) * per_s) + 1))


def _thumbnail_size(width: int, height: int) -> tuple[int, int]:
    """The sprite's tile size for a video whose top rung is `width` x `height` (as the preview task
    derives it from the poster's size)."""
    preview = plan_preview(width, height)
    return fit_long_edge(preview.width, preview.height, THUMBNAIL_EDGE)


def _segment_number(key: str) -> int:
    """The number of the segment `key` names (`.../seg_00012.m4s` -> 12), -1 for other files."""
    name = key.rsplit("/", 1)[-1]
    if name.startswith("seg_") and name.endswith(".m4s") and name[4:-4].isdigit():
        return int(name[4:-4])
    return -1


def _rung_label(task: VideoTaskRequested) -> str:
    """The metrics' rung label: the rung an MP4 is assembled for, else the kind of work."""
    if task.kind == VideoTaskKind.PREVIEW:
        return PREVIEW_RUNG
    return task.output.name if task.kind == VideoTaskKind.ASSEMBLE else task.kind.value


def _work_kind(task: VideoTaskRequested) -> WorkKind:
    return WorkKind.VIDEO_PREVIEW if task.kind == VideoTaskKind.PREVIEW else WorkKind.VIDEO_RENDITION
