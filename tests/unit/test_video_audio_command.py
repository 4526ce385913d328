"""The audio task's command: AAC stereo 48 kHz by ffmpeg's "fast" coder (its default, twoloop, took
3.4 CPU s for the bench's 60 s), in CMAF segments of the video's length covering the whole clip."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from infra.local.debian import ensure_debian_binary
from services.reencoder.video.commands import aac_options, audio_command, single_pass_command
from services.reencoder.video.hls import segment_durations
from shared.events import VideoOutput
from tests.video_samples import ffmpeg_binary, video_bytes


def option_value(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_audio_is_aac_stereo_48k_by_the_fast_coder_from_the_first_audio_stream(tmp_path: Path) -> None:
    command = audio_command(tmp_path / "original", tmp_path / "audio", audio_kbps=160, segment_s=4)
    assert option_value(command, "-map") == "0:a:0"
    assert option_value(command, "-c:a") == "aac"
    assert option_value(command, "-aac_coder") == "fast"
    assert option_value(command, "-b:a") == "160k"
    assert (option_value(command, "-ac"), option_value(command, "-ar")) == ("2", "48000")
    assert option_value(command, "-hls_segment_type") == "fmp4"
    assert option_value(command, "-hls_time") == "4"


def test_the_baseline_makes_the_same_audio_as_the_audio_task(tmp_path: Path) -> None:
    # The bench compares the pipeline with one ffmpeg process: both encode the audio alike.
    rung = VideoOutput(name="360p", width=640, height=360, video_kbps=800, audio_kbps=96)
    command = single_pass_command(
        tmp_path / "original", tmp_path, (rung,), frame_rate=25, segment_s=4, threads=1, audio_kbps=96
    )
    audio = command[command.index(str(tmp_path / "360p" / "index.m3u8")) + 1 :]
    assert all(f"-{name}" in audio for name in aac_options(96))
    assert option_value(audio, "-aac_coder") == "fast"


def test_the_segments_are_aac_stereo_48k_and_cover_the_whole_clip(tmp_path: Path) -> None:
    source = tmp_path / "original"
    source.write_bytes(video_bytes(seconds=10, width=160, height=120))
    folder = tmp_path / "audio"
    folder.mkdir()
    command = audio_command(source, folder, audio_kbps=96, segment_s=4, ffmpeg_binary=ffmpeg_binary())
    subprocess.run(command, check=True, capture_output=True, timeout=120)

    durations = segment_durations((folder / "index.m3u8").read_text())
    assert list(durations) == ["seg_00000.m4s", "seg_00001.m4s", "seg_00002.m4s"]
    assert abs(sum(durations.values()) - 10.0) < 0.05
    ffprobe = ensure_debian_binary("ffprobe", "ffmpeg")
    entries = "stream=codec_name,channels,sample_rate"
    probed = subprocess.run(
        [ffprobe, "-v", "error", "-show_entries", entries, "-of", "json", str(folder / "init.mp4")],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    )
    (stream,) = json.loads(probed.stdout)["streams"]
    assert (stream["codec_name"], stream["channels"], stream["sample_rate"]) == ("aac", 2, "48000")
