"""What a video file holds, from ffprobe, and whether the site accepts it.

ffprobe reads a file only as the container its first bytes name (`-f`, see `shared.media.
VIDEO_DEMUXERS`) and only through the file and pipe protocols (an original read from storage by its
URL: only HTTP(S)): a file cannot make it guess another format or open another address or file.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, BinaryIO

from services.reencoder.video.commands import REMOTE_PROTOCOLS, RemoteSource
from shared.media import FFMPEG_PROTOCOLS, MediaRejected, identify_video, video_demuxer
from shared.settings import VideoLimits

PROBE_TIMEOUT_S = 60.0
_CONTAINERS = "MP4, MOV, MKV, WebM, AVI"
#: The demuxer of the stills a worker makes itself (poster and sprite), by file extension.
_STILL_DEMUXERS = {".jpg": "image2", ".jpeg": "image2"}


class NotAVideo(MediaRejected):
    pass


class VideoTooLarge(MediaRejected):
    pass


@dataclass(frozen=True)
class VideoProbe:
    """The facts the ladder needs. `width`/`height` are as displayed: rotation and pixel shape applied."""

    codec: str
    width: int
    height: int
    duration_s: float
    frame_rate: float
    has_audio: bool


async def probe_video(path: Path, ffprobe: str = "ffprobe") -> VideoProbe:
    """Run ffprobe on `path`; `NotAVideo` for anything ffprobe cannot read as a video, at once (before
    ffprobe) for a file whose container does not hold together."""
    await asyncio.to_thread(_check_container, path)
    return parse_probe(await run_ffprobe(path, ffprobe))


def _check_container(path: Path) -> None:
    """`NotAVideo` (or `DamagedVideo`) with the reason when the file is no container we accept."""
    with path.open("rb") as file:
        if identify_video(file, path.stat().st_size) is None:
            raise NotAVideo(f"not a video file (accepted: {_CONTAINERS})")


async def probe_remote_video(
    source: RemoteSource, file: BinaryIO, size: int, ffprobe: str = "ffprobe"
) -> VideoProbe:
    """`probe_video` of an original in storage: its structure checked through `file` (ranged reads of
    its `size` bytes), then ffprobe reading it by URL (only its headers and index, by ranges)."""
    if await asyncio.to_thread(identify_video, file, size) is None:
        raise NotAVideo(f"not a video file (accepted: {_CONTAINERS})")
    return parse_probe(await run_ffprobe(source, ffprobe))


async def run_ffprobe(path: Path | RemoteSource, ffprobe: str = "ffprobe") -> dict[str, Any]:
    """ffprobe's JSON report of `path` (format and streams), read as the container it starts as (or,
    for a worker's own JPEG, as a still); a `RemoteSource` over HTTP only."""
    reading: tuple[str, ...]
    if isinstance(path, RemoteSource):
        demuxer: str | None = path.demuxer
        reading = (
            "-protocol_whitelist",
            REMOTE_PROTOCOLS,
            "-seekable",
            "1",
            "-f",
            path.demuxer,
            "-i",
            path.url,
        )
    else:
        demuxer = video_demuxer(path) or _STILL_DEMUXERS.get(path.suffix.lower())
        reading = ("-protocol_whitelist", FFMPEG_PROTOCOLS, "-f", demuxer or "", "-i", str(path))
    if demuxer is None:
        raise NotAVideo(f"not a video file (accepted: {_CONTAINERS})")
    process = await asyncio.create_subprocess_exec(
        ffprobe,
        *("-v", "error", "-print_format", "json", "-show_format", "-show_streams"),
        *reading,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), PROBE_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise NotAVideo(f"the file could not be read within {PROBE_TIMEOUT_S:.0f} s") from None
    if process.returncode != 0:
        detail = stderr.decode(errors="replace").strip().splitlines()
        reason = detail[-1] if detail else f"ffprobe exited with {process.returncode}"
        named = path.url if isinstance(path, RemoteSource) else str(path)
        raise NotAVideo(f"not a readable video file: {_strip_path(reason, named)}")
    report: dict[str, Any] = json.loads(stdout or b"{}")
    return report


def avc_profile_level(report: dict[str, Any]) -> tuple[str, int]:
    """(profile, level) of the first H.264 stream of an encoded output, e.g. ("High", 31)."""
    for stream in report.get("streams", []):
        if stream.get("codec_name") == "h264":
            return str(stream.get("profile", "High")), int(stream.get("level") or 40)
    return "High", 40


def parse_probe(report: dict[str, Any]) -> VideoProbe:
    """The `VideoProbe` of an ffprobe JSON report (pure: tested without ffprobe)."""
    streams: list[dict[str, Any]] = report.get("streams", [])
    # Cover art (attached pictures) is a "video" stream too, but not the video.
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not s.get("disposition", {}).get("attached_pic")
    ]
    if not videos:
        raise NotAVideo(f"the file has no video stream (accepted: {_CONTAINERS})")
    video = videos[0]
    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if width <= 0 or height <= 0:
        raise NotAVideo("the video stream has no picture size (damaged or empty)")
    duration = _duration(video, report.get("format", {}))
    if duration <= 0:
        raise NotAVideo("the video stream is empty (zero length)")
    sar = _ratio(video.get("sample_aspect_ratio"), default=Fraction(1))
    if sar > 0 and sar != 1:
        width = max(2, round(width * sar))
    if _rotation(video) % 180 == 90:
        width, height = height, width
    rate = _ratio(video.get("avg_frame_rate"), default=Fraction(0)) or _ratio(
        video.get("r_frame_rate"), default=Fraction(0)
    )
    return VideoProbe(
        codec=str(video.get("codec_name", "unknown")),
        width=width,
        height=height,
        duration_s=duration,
        frame_rate=float(rate),
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
    )


def check_limits(probe: VideoProbe, size_bytes: int, limits: VideoLimits) -> None:
    """`VideoTooLarge` with the reason when the video is over any of the site's limits."""
    if size_bytes > limits.max_upload_bytes:
        raise VideoTooLarge(f"file is {size_bytes:,} bytes, over the limit of {limits.max_upload_bytes:,}")
    if probe.duration_s > limits.max_duration_s:
        raise VideoTooLarge(
            f"video is {probe.duration_s:,.0f} s long, over the limit of {limits.max_duration_s:,.0f} s"
        )
    longest = max(probe.width, probe.height)
    if longest > limits.max_edge or probe.width * probe.height > limits.max_pixels:
        raise VideoTooLarge(
            f"video is {probe.width}x{probe.height}, over the limit of {limits.max_edge} px "
            f"on the longest edge and {limits.max_pixels:,} pixels"
        )


def _duration(video: dict[str, Any], container: dict[str, Any]) -> float:
    for value in (video.get("duration"), container.get("duration")):
        try:
            if value is not None and float(value) > 0:
                return float(value)
        except ValueError:
            continue
    return 0.0


def _rotation(video: dict[str, Any]) -> int:
    """Degrees the player must turn the picture: display-matrix side data, or the old `rotate` tag."""
    for side_data in video.get("side_data_list", []):
        if "rotation" in side_data:
            return int(float(side_data["rotation"])) % 360
    rotate = video.get("tags", {}).get("rotate")
    return int(rotate) % 360 if rotate and str(rotate).lstrip("-").isdigit() else 0


def _ratio(value: Any, default: Fraction) -> Fraction:
    """ffprobe's "num:den" or "num/den"; `default` for "0/0", "N/A" and the like."""
    if not isinstance(value, str):
        return default
    num, _, den = value.replace(":", "/").partition("/")
    try:
        return Fraction(int(num), int(den or 1)) if int(den or 1) != 0 else default
    except ValueError:
        return default


def _strip_path(message: str, path: str) -> str:
    # The scratch path means nothing to the user (and a URL carries a signature).
    return message.replace(f"{path}: ", "").replace(path, "the file")
