"""The optional AV1 variant of the top rung (VIDEO_AV1): planned, encoded in the chunk's one decode,
cut on the same boundaries as the H.264 rungs, announced with its codec string."""

from __future__ import annotations

import subprocess
from pathlib import Path

from services.reencoder.video import fmp4
from services.reencoder.video.commands import chunk_command
from services.reencoder.video.hls import segment_durations
from services.reencoder.video.ladder import plan_ladder, with_av1_top
from services.reencoder.video.planner import plan_tasks
from services.reencoder.video.probe import parse_probe
from shared.events import VideoTaskKind
from tests.video_samples import ffmpeg_binary, video_bytes, video_job


def test_the_av1_variant_is_the_top_rung_again_listed_last() -> None:
    outputs = with_av1_top(plan_ladder(1280, 720))
    assert [(o.name, o.codec, o.width, o.height) for o in outputs] == [
        ("360p", "h264", 640, 360),
        ("720p", "h264", 1280, 720),
        ("720pav1", "av1", 1280, 720),
    ]
    assert outputs[-1].video_kbps < outputs[-2].video_kbps


def test_chunks_encode_it_and_it_gets_its_own_download() -> None:
    job = video_job("j", size_bytes=1)
    report = {
        "streams": [
            {
                "codec_type": "video",
                "codec_name": "h264",
                "width": 1280,
                "height": 720,
                "avg_frame_rate": "25/1",
            }
        ],
        "format": {"duration": "10"},
    }
    now, later = plan_tasks(job, parse_probe(report), chunk_s=4, segment_s=2, av1=True)
    chunks = [t for t in now if t.kind == VideoTaskKind.CHUNK]
    assert all(c.outputs[-1].codec == "av1" for c in chunks)
    assert chunks[0].output.name == "720p"  # the H.264 top rung: the poster's and the audio's size
    assert [t.task_id for t in later] == ["mp4-360p", "mp4-720p", "mp4-720pav1"]


def test_a_chunk_cuts_av1_on_the_h264_boundaries_and_names_its_codec(tmp_path: Path) -> None:
    source = tmp_path / "clip.mp4"
    source.write_bytes(video_bytes(seconds=4, width=640, height=360, audio=False))
    outputs = (plan_ladder(640, 360)[0], with_av1_top(plan_ladder(640, 360))[-1])
    for output in outputs:
        (tmp_path / output.name).mkdir()
    command = chunk_command(
        source,
        tmp_path,
        outputs,
        start_s=0.0,
        length_s=None,
        frame_rate=25.0,
        segment_s=2,
        first_segment=0,
        threads=0,
        ffmpeg_binary=ffmpeg_binary(),
    )
    assert "libsvtav1" in command
    subprocess.run(command, check=True, capture_output=True)
    cuts = {o.name: segment_durations((tmp_path / o.name / "index.m3u8").read_text()) for o in outputs}
    assert cuts["360p"] == cuts["360pav1"] == {"seg_00000.m4s": 2.0, "seg_00001.m4s": 2.0}
    assert fmp4.codec_string((tmp_path / "360pav1" / "init.mp4").read_bytes()).startswith("av01.0.")
    assert fmp4.codec_string((tmp_path / "360p" / "init.mp4").read_bytes()).startswith("avc1.64")


def test_codec_strings_from_the_configuration_records() -> None:
    # av1C: marker/version, profile 0 level 8 (4.0), main tier 8 bit 4:2:0.
    init = b"\x00\x00\x00\x0cav1C\x81\x08\x0c\x00"
    assert fmp4.av1_codec_string(init) == "av01.0.08M.08"
    # high tier, 10 bit
    assert fmp4.av1_codec_string(b"\x00\x00\x00\x0cav1C\x81\x0d\xcc\x00") == "av01.0.13H.10"
