"""A video through the whole pipeline against running the very same ffmpeg commands directly.

    .venv/bin/python -m bench.video                        # 10 s 1080p clip, pipeline with 1, 2 and 4 workers
    .venv/bin/python -m bench.video --seconds 5 --workers 1 --workers 2

Prints the direct wall time (every command of the job's plan, one after another, as one worker runs
them), the pipeline's wall time from upload to `done` for each worker count (each the fastest of
`--repeat` runs), the ratio pipeline / direct and the speed-up over one worker. Never fails on time.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import typer

from infra.local.stack import REPO_ROOT, LocalStack, StackConfig
from services.reencoder.main import TASKS
from services.reencoder.video.commands import (
    hls_command,
    poster_command,
    rendition_command,
    sprite_command,
)
from services.reencoder.video.ffmpeg_runner import run_ffmpeg
from services.reencoder.video.ladder import THUMBNAIL_EDGE, fit_long_edge
from services.reencoder.video.planner import plan_tasks
from services.reencoder.video.probe import probe_video
from shared.events import JobRequested, MediaKind, VideoTaskKind, new_id
from shared.settings import VideoLimits
from tests.api_client import sign_up
from tests.system.conftest import _wait_for_group
from tests.video_samples import video_bytes

app = typer.Typer(add_completion=False)


async def direct(source: Path, size_bytes: int) -> float:
    """Seconds to probe and run every ffmpeg command of the job's plan, one after another."""
    limits = VideoLimits()
    with tempfile.TemporaryDirectory(prefix="bench-direct-") as scratch:
        out = Path(scratch)
        started = time.perf_counter()
        probe = await probe_video(source)
        job = JobRequested(
            correlation_id=new_id(),
            job_id=new_id(),
            kind=MediaKind.VIDEO,
            source_key="-",
            filename=source.name,
            content_type="video/mp4",
            size_bytes=size_bytes,
        )
        # The per-rung baseline (one decode per rung); the single-command baseline is to come.
        first, _assembly = plan_tasks(job, probe)
        preview = next(task for task in first if task.kind == VideoTaskKind.PREVIEW)
        for task in [preview, *(preview.model_copy(update={"output": o}) for o in first[0].outputs)]:
            output, timeout = task.output, limits.task_timeout_s
            if task.kind == VideoTaskKind.PREVIEW and output is preview.output:
                await run_ffmpeg(poster_command(source, out / "poster.jpg", output, 1.0), timeout_s=timeout)
                thumbnail = fit_long_edge(output.width, output.height, THUMBNAIL_EDGE)
                sprite = sprite_command(source, out / "sprite.jpg", thumbnail, probe.duration_s)
                await run_ffmpeg(sprite, timeout_s=timeout)
                continue
            mp4 = out / f"{output.name}.mp4"
            command = rendition_command(
                source,
                mp4,
                output,
                frame_rate=probe.frame_rate,
                has_audio=probe.has_audio,
                threads=limits.ffmpeg_threads,
            )
            await run_ffmpeg(command, timeout_s=timeout)
            (out / output.name).mkdir()
            hls = hls_command(mp4, out / output.name / "index.m3u8", limits.hls_segment_s)
            await run_ffmpeg(hls, timeout_s=timeout)
        return time.perf_counter() - started


def through_pipeline(stack: LocalStack, workers: int, data: bytes) -> float:
    """Seconds from the upload's first byte to the job reading `done`, with `workers` reencoders."""
    stack.start_services(reencoders=workers)
    try:
        _wait_for_members(stack, workers)
        with httpx.Client(base_url=stack.config.frontend_url, timeout=120) as http:
            sign_up(http)
            started = time.perf_counter()
            response = http.post("/api/uploads", files={"file": ("bench.mp4", data, "video/mp4")})
            response.raise_for_status()
            job_id = response.json()["job_id"]
            while True:
                job = http.get(f"/api/jobs/{job_id}").json()
                if job["status"] == "failed":
                    raise SystemExit(f"job {job_id} failed: {job['error']}")
                if job["status"] == "done":
                    return time.perf_counter() - started
                time.sleep(0.05)
    finally:
        stack.stop_services()


def _wait_for_members(stack: LocalStack, members: int) -> None:
    """Time only once every worker holds its share of the task partitions."""
    assert TASKS.group is not None
    asyncio.run(_wait_for_group(stack.config.kafka, TASKS.group, members, 120))


@app.command()
def main(
    seconds: float = typer.Option(10.0, help="Length of the test clip."),
    width: int = 1920,
    height: int = 1080,
    workers: list[int] = typer.Option([1, 2, 4], help="Reencoder counts to time (repeat the option)."),
    repeat: int = typer.Option(
        2, help="Runs of each measurement; the fastest counts (load on a shared box)."
    ),
) -> None:
    data = video_bytes(seconds=seconds, width=width, height=height)
    print(f"{seconds:g} s {width}x{height} clip ({len(data):,} bytes) -> ladder, HLS, previews")
    scratch = Path(tempfile.mkdtemp(prefix="bench-video-"))
    source = scratch / "clip.mp4"
    source.write_bytes(data)
    state = Path(tempfile.mkdtemp(prefix="bench-"))
    stack = LocalStack(StackConfig.on_free_ports(state, REPO_ROOT / ".state" / "cache"))
    stack.start_infrastructure()
    timings: dict[int, float] = {}
    try:
        for count in workers:
            # The baseline is re-measured beside each pipeline run and the fastest of `repeat` runs
            # of each counts: on a shared machine the load drifts and only ever slows things down.
            plain = min(asyncio.run(direct(source, len(data))) for _ in range(repeat))
            timings[count] = min(through_pipeline(stack, count, data) for _ in range(repeat))
            print(
                f"{count} worker(s): pipeline {timings[count]:7.2f} s, same ffmpeg commands directly "
                f"{plain:7.2f} s, pipeline / direct {timings[count] / plain:5.2f}"
            )
    finally:
        stack.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)
    if 1 in timings:
        for count, wall in timings.items():
            print(f"speed-up with {count} worker(s) over 1: {timings[1] / wall:5.2f}x")


if __name__ == "__main__":
    app()
