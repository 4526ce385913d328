"""Test videos made on the fly by ffmpeg's lavfi sources, so no binary fixtures are committed.

Small on purpose (a few seconds, low resolution): the suite runs on two cores.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from infra.local.debian import ensure_debian_binary
from shared.events import JobRequested, MediaKind

#: Container -> (video encoder, audio encoder) that the container holds.
CODECS: dict[str, tuple[str, str]] = {
    "mp4": ("libx264", "aac"),
    "mov": ("libx264", "aac"),
    "mkv": ("libx265", "aac"),
    "webm": ("libvpx-vp9", "libopus"),
    "avi": ("mpeg4", "libmp3lame"),
}


def ffmpeg_binary() -> str:
    """ffmpeg from Debian's packages (installed with apt-get when missing, like PostgreSQL)."""
    ensure_debian_binary("ffprobe", "ffmpeg")
    return ensure_debian_binary("ffmpeg", "ffmpeg")


def video_bytes(
    *,
    seconds: float = 2.0,
    width: int = 320,
    height: int = 240,
    container: str = "mp4",
    video_codec: str | None = None,
    audio: bool = True,
    rotate: int | None = None,
    fps: int = 25,
    variable_frame_rate: bool = False,
) -> bytes:
    """A moving test pattern (and a tone when `audio`) encoded as asked."""
    default_video, default_audio = CODECS[container]
    command = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin"]
    command += ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={seconds}"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    # 4:2:0 needs even sizes; odd-sized samples use 4:4:4 (High 4:4:4 H.264), as some cameras do.
    # (testsrc2 itself only makes even sizes, hence the scale.)
    chroma = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    filters = [f"scale={width}:{height}", f"format={chroma}"]
    if variable_frame_rate:
        # Keeps every frame for the first half of each second and every third frame after it.
        filters.insert(0, f"select='lt(mod(n,{fps}),{fps // 2})+not(mod(n,3))'")
        command += ["-fps_mode", "vfr"]
    command += ["-vf", ",".join(filters), "-c:v", video_codec or default_video]
    if (video_codec or default_video) in ("libx264", "libx265"):
        command += ["-preset", "ultrafast"]
    if (video_codec or default_video) == "libx265":
        command += ["-x265-params", "log-level=error"]
    if (video_codec or default_video) == "libaom-av1":
        command += ["-cpu-used", "8", "-row-mt", "1"]
    if audio:
        command += ["-c:a", default_audio, "-shortest"]
    with tempfile.TemporaryDirectory(prefix="sample-") as scratch:
        target = Path(scratch) / f"sample.{container}"
        subprocess.run([*command, str(target)], check=True, timeout=120)
        if rotate is not None:
            # A phone's way: the pixels stay as shot, a display matrix says how to turn them.
            rotated = Path(scratch) / f"rotated.{container}"
            remux = [command[0], "-loglevel", "error", "-i", str(target), "-c", "copy", "-map", "0"]
            subprocess.run(
                [*remux, "-metadata:s:v:0", f"rotate={rotate}", str(rotated)], check=True, timeout=60
            )
            target = rotated
        return target.read_bytes()


def truncated_video(data: bytes, keep: float = 0.3) -> bytes:
    """The first part of a video file, as an interrupted copy leaves it."""
    return data[: int(len(data) * keep)]


def empty_video() -> bytes:
    """A valid MP4 container whose video track has no frames at all (a zero-length stream)."""
    command = [ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin"]
    command += ["-f", "lavfi", "-i", "testsrc2=size=320x240:duration=1", "-frames:v", "0", "-c:v", "libx264"]
    with tempfile.TemporaryDirectory(prefix="sample-") as scratch:
        target = Path(scratch) / "empty.mp4"
        subprocess.run([*command, str(target)], check=True, timeout=60)
        return target.read_bytes()


def mp4_lookalike(size: int = 20_000) -> bytes:
    """Bytes that start like an MP4 (an `ftyp` box) and are noise after it: not a video."""
    header = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    pattern = bytes((i * 7919 + 13) % 251 for i in range(4093))
    return header + (pattern * (size // len(pattern) + 1))[:size]


def video_job(job_id: str = "0123456789abcdef", size_bytes: int = 1000) -> JobRequested:
    """A video upload's request, as the planner receives it (for tests of planning, not encoding)."""
    return JobRequested(
        correlation_id="c",
        job_id=job_id,
        kind=MediaKind.VIDEO,
        source_key=f"{job_id}/original",
        filename="clip.mp4",
        content_type="video/mp4",
        size_bytes=size_bytes,
    )
