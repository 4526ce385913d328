"""Running ffmpeg: progress parsing and throttling, crashes, hangs and damaged input (real ffmpeg)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.reencoder.video.commands import rendition_command
from services.reencoder.video.ffmpeg_runner import (
    EncodeFailed,
    EncodeTimedOut,
    ProgressThrottle,
    parse_out_time_s,
    run_ffmpeg,
)
from shared.events import VideoOutput
from tests.video_samples import ffmpeg_binary, truncated_video, video_bytes

OUTPUT = VideoOutput(name="240p", width=320, height=240, video_kbps=500, audio_kbps=96)


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-ffmpeg"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_out_time_lines_are_parsed() -> None:
    assert parse_out_time_s("out_time_us=2500000\n") == 2.5
    assert parse_out_time_s("out_time_ms=1000000") == 1.0  # microseconds too, despite the name
    assert parse_out_time_s("out_time_us=N/A") is None
    assert parse_out_time_s("frame=12") is None


def test_throttle_lets_one_through_per_interval() -> None:
    now = [0.0]
    throttle = ProgressThrottle(1.0, lambda: now[0])
    passed = []
    for step in range(30):
        now[0] = step * 0.1
        passed.append(throttle.due())
    assert passed.count(True) == 3  # at 0.0, 1.0 and 2.0 s


async def test_progress_of_a_real_encode_rises_to_the_end(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    source.write_bytes(video_bytes(seconds=2))
    fractions: list[float] = []

    async def record(fraction: float) -> None:
        fractions.append(fraction)

    command = rendition_command(
        source,
        tmp_path / "out.mp4",
        OUTPUT,
        frame_rate=25,
        has_audio=True,
        threads=1,
        ffmpeg_binary=ffmpeg_binary(),
    )
    await run_ffmpeg(command, timeout_s=120, duration_s=2.0, on_progress=record)
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0, abs=0.05)


async def test_damaged_input_fails_with_ffmpegs_reason(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    source.write_bytes(truncated_video(video_bytes(seconds=2)))
    command = rendition_command(
        source,
        tmp_path / "out.mp4",
        OUTPUT,
        frame_rate=25,
        has_audio=True,
        threads=1,
        ffmpeg_binary=ffmpeg_binary(),
    )
    with pytest.raises(EncodeFailed, match=r"ffmpeg could not encode the video: .*Invalid data found"):
        await run_ffmpeg(command, timeout_s=120)


async def test_a_crashing_ffmpeg_is_reported_by_its_signal(tmp_path: Path) -> None:
    crashing = script(tmp_path, "echo 'about to crash' >&2\nkill -SEGV $$")
    with pytest.raises(EncodeFailed, match=r"ffmpeg crashed \(SIGSEGV\)"):
        await run_ffmpeg([crashing], timeout_s=30)


async def test_a_hanging_ffmpeg_is_killed_at_the_timeout(tmp_path: Path) -> None:
    marker = tmp_path / "still-running"
    hanging = script(tmp_path, f"sleep 2; touch {marker}")
    with pytest.raises(EncodeTimedOut, match=r"longer than the 0\.3 s limit"):
        await run_ffmpeg([hanging], timeout_s=0.3)
    # The script was killed: its shell never reaches the touch (sleep may linger as an orphan).
    assert not marker.exists()
