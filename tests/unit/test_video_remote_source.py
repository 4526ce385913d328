"""Chunk tasks read the original from storage by URL: the command that seeks by HTTP ranges, and what
ffmpeg's log says it read (real ffmpeg reading a local HTTP server that answers ranges)."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.reencoder.video.commands import REMOTE_PROTOCOLS, RemoteSource, chunk_command
from services.reencoder.video.ffmpeg_runner import read_log_line, run_ffmpeg
from services.reencoder.video.probe import NotAVideo, probe_remote_video
from shared.events import VideoOutput
from tests.video_samples import ffmpeg_binary, video_bytes

OUTPUTS = (VideoOutput(name="240p", width=320, height=240, video_kbps=500, audio_kbps=96),)


def seconds_10_to_15(url: str, out: Path, ffmpeg: str = "ffmpeg") -> list[str]:
    """The chunk command for 10 s to 15 s of the MP4 at `url` (segments of 5 s: the third one)."""
    return chunk_command(
        RemoteSource(url, "mp4"),
        out,
        OUTPUTS,
        start_s=10.0,
        length_s=5.0,
        frame_rate=25,
        segment_s=5,
        first_segment=2,
        threads=1,
        ffmpeg_binary=ffmpeg,
    )


def test_the_url_is_read_with_http_only_seeking_before_the_input() -> None:
    command = seconds_10_to_15(
        "http://storage:9000/uploads/j/original?X-Amz-Signature=s", Path("/scratch/out")
    )
    source = command.index("-i")
    before = command[:source]
    assert command[source + 1].startswith("http://storage:9000/")
    assert before[before.index("-ss") + 1] == "10.000"  # an input seek: ranged reads, not a scan
    assert before[before.index("-f") + 1] == "mp4"  # the container is named, never guessed
    assert before[before.index("-protocol_whitelist") + 1] == REMOTE_PROTOCOLS == "http,https,tcp,tls"
    assert before[before.index("-seekable") + 1] == "1"
    assert "file" not in REMOTE_PROTOCOLS.split(",")


def test_log_lines_tagged_with_their_level_give_errors_and_bytes_read() -> None:
    assert read_log_line("[AVIOContext @ 0x55aa3901b500] [verbose] Statistics: 8800 bytes read, 2 seeks") == (
        None,
        8800,
    )
    assert read_log_line("[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5] [error] moov atom not found") == (
        "moov atom not found",
        0,
    )
    assert read_log_line("[info] Stream mapping:") == (None, 0)
    assert read_log_line("Conversion failed!") == ("Conversion failed!", 0)  # `-loglevel error`


class _Ranges(http.server.SimpleHTTPRequestHandler):
    """Serves one file with `Range` support, as storage does."""

    def do_GET(self) -> None:
        data = Path(self.directory, "original").read_bytes()
        first, last = 0, len(data) - 1
        if ranged := self.headers.get("Range"):
            start, _, end = ranged.removeprefix("bytes=").partition("-")
            first, last = int(start), int(end) if end else len(data) - 1
        body = data[first : last + 1]
        self.send_response(206 if ranged else 200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        if ranged:
            self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.end_headers()
        # ffmpeg drops a connection when it seeks elsewhere.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A 20 s clip (moov at its end) at a local URL; (url, its size)."""
    data = video_bytes(seconds=20, width=320, height=240)
    (tmp_path / "original").write_bytes(data)
    handler = lambda *a: _Ranges(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/original", len(data)
    finally:
        server.shutdown()
        server.server_close()


def test_a_chunk_reads_its_stretch_of_the_original_not_all_of_it(
    served: tuple[str, int], tmp_path: Path
) -> None:
    url, size = served
    out = tmp_path / "out"
    (out / "240p").mkdir(parents=True)
    command = seconds_10_to_15(url, out, ffmpeg_binary())
    read = asyncio.run(run_ffmpeg(command, timeout_s=120))
    assert (out / "240p" / "seg_00002.m4s").stat().st_size > 0
    # Its 5 s (from the keyframe at 10 s) and the index at the end: well under half of 20 s.
    assert 0 < read < size / 2


def test_the_planner_probes_an_original_by_url(served: tuple[str, int], tmp_path: Path) -> None:
    url, size = served
    with (tmp_path / "original").open("rb") as file:  # what `MediaStore.open_ranged` reads
        probe = asyncio.run(probe_remote_video(RemoteSource(url, "mp4"), file, size, ffprobe()))
    assert (probe.width, probe.height, probe.has_audio) == (320, 240, True)
    assert abs(probe.duration_s - 20) < 0.1


def test_a_remote_original_that_is_no_video_is_refused_without_naming_its_url(
    served: tuple[str, int], tmp_path: Path
) -> None:
    url, size = served
    with (tmp_path / "original").open("rb") as file, pytest.raises(NotAVideo) as refused:
        # Read as the wrong container: ffprobe fails, and its message must not carry the signed URL.
        asyncio.run(
            probe_remote_video(RemoteSource(url + "?X-Amz-Signature=s", "matroska"), file, size, ffprobe())
        )
    assert "X-Amz-Signature" not in str(refused.value)
    assert "127.0.0.1" not in str(refused.value)


def ffprobe() -> str:
    return str(Path(ffmpeg_binary()).with_name("ffprobe"))
