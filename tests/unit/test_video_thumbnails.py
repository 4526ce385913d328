"""The sprite's thumbnails taken by the chunk tasks from their own decode (real ffmpeg, a lavfi clip)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from services.reencoder.video.commands import SPRITE_COUNT, Thumbnails, chunk_command
from services.reencoder.video.ladder import plan_ladder
from tests.video_samples import ffmpeg_binary, video_bytes

DURATION_S = 7.0
#: Not a multiple of the thumbnails' spacing (0.7 s): the second chunk starts between two of them.
SPLIT_S = 3.3


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("thumbnails") / "source.mp4"
    path.write_bytes(video_bytes(seconds=DURATION_S, audio=False))
    return path


def encode_chunk(
    source: Path, folder: Path, start_s: float, length_s: float | None
) -> tuple[dict[int, bytes], float]:
    """Run one chunk task's command: (its thumbnails by the index ffmpeg named them, the last
    `out_time` ffmpeg reported in seconds)."""
    outputs = tuple(plan_ladder(320, 240))
    for output in outputs:
        (folder / output.name).mkdir(parents=True)
    thumbnails = Thumbnails(folder / "thumbnails", (160, 120), DURATION_S, start_s)
    thumbnails.folder.mkdir()
    command = chunk_command(
        source,
        folder,
        outputs,
        start_s=start_s,
        length_s=length_s,
        frame_rate=25.0,
        segment_s=1.0,
        first_segment=0,
        threads=1,
        thumbnails=thumbnails,
        ffmpeg_binary=ffmpeg_binary(),
    )
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
    out_times = [
        int(line.split("=")[1]) for line in done.stdout.splitlines() if line.startswith("out_time_us=")
    ]
    found = {int(path.stem): path.read_bytes() for path in thumbnails.folder.glob("*.jpg")}
    return found, max(out_times) / 1e6


def test_two_chunks_take_each_thumbnail_of_the_whole_video_once(source: Path, tmp_path: Path) -> None:
    whole, _ = encode_chunk(source, tmp_path / "whole", 0.0, None)
    first, _ = encode_chunk(source, tmp_path / "first", 0.0, SPLIT_S)
    second, second_out_s = encode_chunk(source, tmp_path / "second", SPLIT_S, None)
    assert sorted(whole) == list(range(SPRITE_COUNT))  # what fps=count/duration takes over the video
    assert set(first) | set(second) == set(range(SPRITE_COUNT))
    assert not set(first) & set(second)
    # The very frames the whole video's decode picks (an exact seek decodes the same pictures).
    assert {**first, **second} == whole
    # ffmpeg's progress follows the chunk's own time, not the thumbnails' place on the video's.
    assert second_out_s <= DURATION_S - SPLIT_S + 0.1
