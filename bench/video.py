"""A video through the chunked pipeline against the best single ffmpeg process for the same ladder.

    .venv/bin/python -m bench.video                        # 60 s 1080p25 with audio, 1 and 2 workers
    .venv/bin/python -m bench.video --seconds 20 --workers 1 --repeat 2
    .venv/bin/python -m bench.video --reads                # bytes one chunk task reads from storage

The baseline is one ffmpeg process making the same package on this machine: one decode of the whole
video split to every rung (the same H.264 settings and CMAF segments as the chunk tasks) and the audio,
all in one command. The pipeline is timed from the upload's first byte: to `playable_at` (the master
playlist and the first chunk of every rung stored) and to `done` (every chunk, the audio, previews and
the MP4 downloads assembled). Prints both, done / baseline, each worker count's speed-up over one,
and where the time went (the workers' own timings per kind of task).
Each figure is the fastest of `--repeat` runs (load on a shared machine only ever slows things down).
Never fails on time.
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import typer

from infra.local.objectstore import MinioServer, ensure_minio_binary
from infra.local.processes import free_port
from infra.local.stack import REPO_ROOT, LocalStack, StackConfig
from infra.ops.upload_client import ResumableUploader
from services.reencoder.main import TASKS
from services.reencoder.video.chunks import ChunkSettings
from services.reencoder.video.commands import RemoteSource, chunk_command, single_pass_command
from services.reencoder.video.ffmpeg_runner import run_ffmpeg
from services.reencoder.video.ladder import plan_ladder
from services.reencoder.video.probe import probe_video
from shared.events import METRICS_WORK, WorkTimed
from shared.media import video_demuxer
from shared.settings import StorageSettings, VideoLimits
from shared.storage import MediaStore
from tests.api_client import sign_up
from tests.system.conftest import _wait_for_group, read_topic
from tests.video_samples import video_bytes

app = typer.Typer(add_completion=False)


async def single_process(source: Path) -> float:
    """Seconds to probe the source and make every rung and the audio in one ffmpeg process."""
    limits = VideoLimits()
    with tempfile.TemporaryDirectory(prefix="bench-direct-") as scratch:
        out = Path(scratch)
        started = time.perf_counter()
        probe = await probe_video(source)
        outputs = tuple(plan_ladder(probe.width, probe.height))
        for folder in (*(o.name for o in outputs), "audio"):
            (out / folder).mkdir()
        command = single_pass_command(
            source,
            out,
            outputs,
            frame_rate=probe.frame_rate,
            segment_s=limits.hls_segment_s,
            threads=limits.ffmpeg_threads,
            audio_kbps=outputs[-1].audio_kbps if probe.has_audio else None,
        )
        await run_ffmpeg(command, timeout_s=limits.task_timeout_s)
        return time.perf_counter() - started


@dataclass(frozen=True)
class PipelineRun:
    playable_s: float
    done_s: float
    #: The job's work as the workers timed it (metrics.work), one event per task.
    work: tuple[WorkTimed, ...] = ()


def where_the_time_went(run: PipelineRun, workers: int) -> str:
    """Per kind of task: how many, and the seconds spent downloading, encoding and uploading; then
    the workers' busy time against the wall clock (the rest is dispatch, waiting and the upload)."""
    lines = [f"  {'tasks':<16}{'count':>6}{'download':>10}{'encode':>10}{'upload':>10}"]
    kinds: dict[str, list[WorkTimed]] = {}
    for work in run.work:
        kind = (work.task_id or "job").split("-", 1)[0]
        kinds.setdefault(kind, []).append(work)
    for kind, works in sorted(kinds.items()):
        lines.append(
            f"  {kind:<16}{len(works):>6}{sum(w.download_s for w in works):>10.2f}"
            f"{sum(w.encode_s for w in works):>10.2f}{sum(w.upload_s for w in works):>10.2f}"
        )
    busy = sum(work.busy_s for work in run.work)
    lines.append(
        f"  workers busy {busy:.2f} s of {workers} x {run.done_s:.2f} s "
        f"({busy / (workers * run.done_s):.0%}); the rest is the upload, probing and planning, "
        "dispatch and waiting"
    )
    return "\n".join(lines)


def through_pipeline(stack: LocalStack, workers: int, source: Path, direct: bool) -> PipelineRun:
    """Seconds from the upload's first byte to the job playable and to it done, with `workers`.

    `direct`: the way the site's page and `reencode upload` send a file this large (parts straight
    to storage, the stored object starting the job); else one `POST /api/uploads` through the
    frontend."""
    stack.start_services(reencoders=workers)
    try:
        _wait_for_members(stack, workers)
        with httpx.Client(base_url=stack.config.frontend_url, timeout=120) as http:
            sign_up(http)
            started = datetime.now(UTC)
            if direct:
                with tempfile.TemporaryDirectory() as uploader_state:
                    job_id = ResumableUploader(http, Path(uploader_state)).upload(source).job_id
            else:
                response = http.post(
                    "/api/uploads", files={"file": ("bench.mp4", source.read_bytes(), "video/mp4")}
                )
                response.raise_for_status()
                job_id = response.json()["job_id"]
            job = follow_until_finished(http, job_id)
            if job["status"] == "failed":
                raise SystemExit(f"job {job_id} failed: {job['error']}")
            # The job's own clocks (this machine's, as the bench's): no polling latency in the figures.
            done_s = (datetime.fromisoformat(job["updated_at"]) - started).total_seconds()
            playable_at = job["playable_at"] or job["updated_at"]
            playable_s = (datetime.fromisoformat(playable_at) - started).total_seconds()
            work = tuple(w for w in read_topic(stack, METRICS_WORK, timeout=2.0) if w.job_id == job_id)
            return PipelineRun(playable_s, done_s, work)
    finally:
        stack.stop_services()


def follow_until_finished(http: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job once done or failed, waited for as the site's page waits: on its live event stream
    (one request, not a poll that would load the frontend the benchmark measures)."""
    job: dict[str, Any] = {}
    with http.stream("GET", f"/api/jobs/{job_id}/events", timeout=600) as events:
        for line in events.iter_lines():
            if line.startswith("data:"):
                job = json.loads(line.removeprefix("data:"))
                if job["status"] in ("done", "failed"):
                    return job
    raise SystemExit(f"job {job_id}: the event stream ended before the job did ({job.get('status')})")


def _wait_for_members(stack: LocalStack, members: int) -> None:
    """Time only once every worker holds its share of the task partitions."""
    assert TASKS.group is not None
    asyncio.run(_wait_for_group(stack.config.kafka, TASKS.group, members, 120))


def storage_sent_bytes(minio: MinioServer) -> float:
    """What MinIO says it has sent in all (its cluster metrics, refreshed about every 10 s: read
    after a pause, so that the figure covers everything before it)."""
    time.sleep(12)
    metrics = httpx.get(f"http://{minio.endpoint}/minio/v2/metrics/cluster", timeout=30).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("minio_s3_traffic_sent_bytes")
    )


def chunk_reads(data: bytes, chunk_s: int, segment_s: int) -> None:
    """Bytes one chunk task takes from storage: the whole original downloaded (before) against ffmpeg
    reading it by a presigned URL with ranged GETs (now), for the first chunk and one in the middle:
    what ffmpeg says it read and what MinIO says it sent. Only MinIO runs."""
    state = Path(tempfile.mkdtemp(prefix="bench-reads-"))
    minio = MinioServer(
        ensure_minio_binary(REPO_ROOT / ".state" / "cache"),
        state / "minio",
        free_port(),
        free_port(),
        "reencode",
        "reencode-secret",
        state / "minio.log",
    )
    minio.start()
    try:
        minio.wait_ready(60)
        store = MediaStore(StorageSettings(endpoint=minio.endpoint))
        store.ensure_buckets()
        store.put_stream(store.uploads_bucket, "bench/original", io.BytesIO(data), len(data), "video/mp4")
        before = storage_sent_bytes(minio)
        store.download(store.uploads_bucket, "bench/original", state / "original")
        print(f"download of the whole original: storage sent {storage_sent_bytes(minio) - before:,.0f} bytes")
        probe = asyncio.run(probe_video(state / "original"))
        outputs = tuple(plan_ladder(probe.width, probe.height))
        url = store.internal_get_url(store.uploads_bucket, "bench/original", 3600)
        middle = chunk_s * int(probe.duration_s / chunk_s / 2)
        for start in sorted({0, middle}):
            out = state / f"chunk-{start}"
            for output in outputs:
                (out / output.name).mkdir(parents=True)
            command = chunk_command(
                RemoteSource(url, video_demuxer(state / "original") or "mp4"),
                out,
                outputs,
                start_s=float(start),
                length_s=float(chunk_s),
                frame_rate=probe.frame_rate,
                segment_s=segment_s,
                first_segment=start // segment_s,
                threads=0,
            )
            before = storage_sent_bytes(minio)
            read = asyncio.run(run_ffmpeg(command, timeout_s=600))
            sent = storage_sent_bytes(minio) - before
            print(f"chunk at {start:4d} s by URL: ffmpeg read {read:,} bytes, storage sent {sent:,.0f}")
    finally:
        minio.stop()
        shutil.rmtree(state, ignore_errors=True)


@app.command()
def main(
    seconds: float = typer.Option(60.0, help="Length of the test clip."),
    width: int = 1920,
    height: int = 1080,
    workers: list[int] = typer.Option([1, 2], help="Reencoder counts to time (repeat the option)."),
    repeat: int = typer.Option(1, help="Runs of each measurement; the fastest counts."),
    chunk_s: int = typer.Option(ChunkSettings().chunk_s, help="VIDEO_CHUNK_S of the workers."),
    reads: bool = typer.Option(
        False, "--reads", help="Only measure the bytes one chunk task reads from storage, and stop."
    ),
    direct: bool = typer.Option(
        True,
        "--direct/--form",
        help="Upload as the site's page does a file this large (parts straight to storage), or as one "
        "POST /api/uploads through the frontend.",
    ),
) -> None:
    data = video_bytes(seconds=seconds, width=width, height=height)
    if reads:
        print(f"{seconds:g} s {width}x{height} clip with audio ({len(data):,} bytes), chunks of {chunk_s} s")
        chunk_reads(data, chunk_s, VideoLimits().hls_segment_s)
        return
    upload = "parts straight to storage" if direct else "one POST /api/uploads"
    clip = f"{seconds:g} s {width}x{height} clip with audio ({len(data):,} bytes)"
    print(f"{clip}, chunks of {chunk_s} s; {upload}")
    scratch = Path(tempfile.mkdtemp(prefix="bench-video-"))
    source = scratch / "clip.mp4"
    source.write_bytes(data)
    state = Path(tempfile.mkdtemp(prefix="bench-"))
    stack = LocalStack(StackConfig.on_free_ports(state, REPO_ROOT / ".state" / "cache"))
    stack.config.service_env.update(
        {"VIDEO_CHUNK_S": str(chunk_s), "VIDEO_MAX_UPLOAD_BYTES": str(max(len(data) * 2, 50 << 20))}
    )
    stack.start_infrastructure()
    runs: dict[int, PipelineRun] = {}
    try:
        for count in workers:
            # The baseline is measured again beside each pipeline run: the load of a shared machine drifts.
            baseline = min(asyncio.run(single_process(source)) for _ in range(repeat))
            timed = [through_pipeline(stack, count, source, direct) for _ in range(repeat)]
            fastest = min(timed, key=lambda r: r.done_s)
            run = runs[count] = PipelineRun(min(r.playable_s for r in timed), fastest.done_s, fastest.work)
            print(
                f"{count} worker(s): playable {run.playable_s:7.2f} s, done {run.done_s:7.2f} s; "
                f"one ffmpeg process {baseline:7.2f} s; done / baseline {run.done_s / baseline:5.2f}"
            )
            print(where_the_time_went(run, count))
    finally:
        stack.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)
    if 1 in runs:
        for count, run in runs.items():
            print(f"speed-up with {count} worker(s) over 1: {runs[1].done_s / run.done_s:5.2f}x")


if __name__ == "__main__":
    app()
