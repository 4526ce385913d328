"""Reading ffprobe reports and checking the video limits (pure: no ffprobe needed)."""

from __future__ import annotations

from typing import Any

import pytest

from services.reencoder.video.probe import NotAVideo, VideoTooLarge, check_limits, parse_probe
from shared.settings import VideoLimits


def report(**video: Any) -> dict[str, Any]:
    stream = {"codec_type": "video", "codec_name": "h264", "width": 1920, "height": 1080}
    stream.update(video)
    return {
        "streams": [stream, {"codec_type": "audio", "codec_name": "aac"}],
        "format": {"duration": "12.5"},
    }


def test_plain_video_is_read() -> None:
    probe = parse_probe(report(avg_frame_rate="30000/1001"))
    assert (probe.width, probe.height, probe.duration_s, probe.has_audio) == (1920, 1080, 12.5, True)
    assert probe.frame_rate == pytest.approx(29.97, abs=0.01)


@pytest.mark.parametrize("rotation", [90, -90, 270])
def test_rotation_from_the_display_matrix_swaps_the_displayed_size(rotation: int) -> None:
    probe = parse_probe(report(side_data_list=[{"side_data_type": "Display Matrix", "rotation": rotation}]))
    assert (probe.width, probe.height) == (1080, 1920)


def test_old_rotate_tag_is_honoured_and_180_keeps_the_size() -> None:
    assert (parse_probe(report(tags={"rotate": "90"})).width, 1080) == (1080, 1080)
    assert parse_probe(report(tags={"rotate": "180"})).width == 1920


def test_non_square_pixels_are_displayed_wider() -> None:
    probe = parse_probe(report(width=720, height=576, sample_aspect_ratio="64:45"))
    assert (probe.width, probe.height) == (1024, 576)


def test_variable_frame_rate_falls_back_to_the_real_base_rate() -> None:
    assert parse_probe(report(avg_frame_rate="0/0", r_frame_rate="25/1")).frame_rate == 25.0


def test_cover_art_alone_is_not_a_video() -> None:
    art = {"codec_type": "video", "width": 500, "height": 500, "disposition": {"attached_pic": 1}}
    with pytest.raises(NotAVideo, match="no video stream"):
        parse_probe({"streams": [art, {"codec_type": "audio"}], "format": {"duration": "180"}})


def test_zero_length_and_sizeless_streams_are_refused() -> None:
    with pytest.raises(NotAVideo, match="zero length"):
        parse_probe({"streams": [{"codec_type": "video", "width": 320, "height": 240}], "format": {}})
    with pytest.raises(NotAVideo, match="no picture size"):
        parse_probe(report(width=0))


def test_limits_give_the_reason() -> None:
    limits = VideoLimits(max_duration_s=10, max_edge=1920, max_pixels=1920 * 1080, max_upload_bytes=1000)
    probe = parse_probe(report())
    with pytest.raises(VideoTooLarge, match=r"12 s long, over the limit of 10 s"):
        check_limits(probe, 10, limits)
    with pytest.raises(VideoTooLarge, match="bytes, over the limit"):
        check_limits(probe, 2000, limits)
    wide = parse_probe(report(width=3840, height=2160, **{"duration": "5"}))
    with pytest.raises(VideoTooLarge, match="3840x2160, over the limit of 1920 px"):
        check_limits(wide, 10, VideoLimits(max_edge=1920))
    check_limits(parse_probe(report(duration="5")), 10, limits)
