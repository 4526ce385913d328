"""Hostile video uploads: a file is a video only if its container holds together, and ffmpeg/ffprobe
read it only as that container, only from the file.

Before: any bytes with `free` or `ftyp` at offset 4 were accepted as a video, under the 8 GiB video
limit, copied to every worker and handed to ffprobe, which guessed a format from the bytes.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from services.reencoder.video.commands import poster_command, rendition_command
from services.reencoder.video.probe import NotAVideo, probe_video
from shared.events import VideoOutput
from shared.media import DamagedVideo, identify_video
from tests.video_samples import video_bytes

JUNK = [
    b"\x00\x00\x00\x08free" + os.urandom(64 * 1024),  # `free` at offset 4
    b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(64 * 1024),  # `ftyp`, then noise
    b"\x00\x00\x00\x10skip\x00\x00\x00\x00\x00\x00\x00\x00#EXTM3U\nhttp://169.254.169.254/\n",
]


@pytest.mark.parametrize("junk", JUNK)
def test_junk_with_a_box_name_at_offset_4_is_refused_with_the_reason(junk: bytes) -> None:
    file = io.BytesIO(junk)
    with pytest.raises(DamagedVideo, match="video but is not one: its structure is damaged or cut short"):
        identify_video(file, len(junk))
    assert file.tell() == 0


def test_files_that_do_not_start_like_a_video_are_left_to_the_image_check() -> None:
    for data in (b"\x89PNG\r\n\x1a\n" + bytes(100), b"hello, I am a text file\n" * 10):
        assert identify_video(io.BytesIO(data), len(data)) is None


@pytest.mark.parametrize(
    ("container", "content_type"),
    [
        ("mp4", "video/mp4"),
        ("mov", "video/quicktime"),
        ("mkv", "video/x-matroska"),
        ("webm", "video/webm"),
        ("avi", "video/x-msvideo"),
    ],
)
def test_real_videos_are_accepted_and_the_file_is_left_where_it_was(
    container: str, content_type: str
) -> None:
    data = video_bytes(seconds=0.2, width=64, height=64, container=container)
    file = io.BytesIO(data)
    assert identify_video(file, len(data)) == content_type
    assert file.tell() == 0


def test_a_movie_header_at_the_end_behind_a_large_media_box_is_found() -> None:
    """The usual MP4 without `+faststart`: `moov` after `mdat`, reached by seeking, not reading."""
    data = video_bytes(seconds=0.2, width=64, height=64, container="mp4")
    assert data.index(b"moov") > data.index(b"mdat")
    assert identify_video(io.BytesIO(data), len(data)) == "video/mp4"
    cut = data[: data.index(b"moov") - 4]  # an interrupted copy
    with pytest.raises(DamagedVideo, match="cut short"):
        identify_video(io.BytesIO(cut), len(cut))


async def test_the_worker_refuses_junk_before_running_ffprobe(tmp_path: Path) -> None:
    source = tmp_path / "original"
    source.write_bytes(JUNK[0])
    with pytest.raises(DamagedVideo, match="starts like a QuickTime"):
        await probe_video(source, ffprobe=str(tmp_path / "no-such-ffprobe"))


async def test_ffprobe_is_told_the_container_and_the_protocols(tmp_path: Path) -> None:
    source = tmp_path / "original"
    source.write_bytes(video_bytes(seconds=0.2, width=64, height=64, container="mkv"))
    arguments = tmp_path / "arguments"
    fake = tmp_path / "ffprobe"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {arguments}\necho "{{}}"\n')
    fake.chmod(0o755)
    with pytest.raises(NotAVideo):  # the fake reports no streams
        await probe_video(source, ffprobe=str(fake))
    argv = arguments.read_text().splitlines()
    assert _option(argv, "-f") == "matroska"
    assert _option(argv, "-protocol_whitelist") == "file,pipe"
    assert argv[-2:] == ["-i", str(source)]


def test_ffmpeg_is_told_the_container_and_the_protocols(tmp_path: Path) -> None:
    source = tmp_path / "original"
    source.write_bytes(video_bytes(seconds=0.2, width=64, height=64, container="mov"))
    output = VideoOutput(name="360p", width=64, height=64, video_kbps=100, audio_kbps=64)
    commands: list[list[str]] = [
        rendition_command(source, tmp_path / "o.mp4", output, frame_rate=25, has_audio=True, threads=1),
        poster_command(source, tmp_path / "p.jpg", output, 0.1),
    ]
    for argv in commands:
        before_input = argv[: argv.index("-i")]
        assert _option(before_input, "-f") == "mov", argv
        assert _option(before_input, "-protocol_whitelist") == "file,pipe", argv


def _option(argv: list[Any], name: str) -> str:
    return str(argv[argv.index(name) + 1])
