"""The storyboard's WebVTT thumbnails track."""

from __future__ import annotations

from services.reencoder.video.storyboard import storyboard_vtt


def test_one_cue_per_tile_row_by_row_covering_the_video() -> None:
    vtt = storyboard_vtt(25.0, (160, 90), columns=5, rows=2)
    blocks = [block.splitlines() for block in vtt.split("\n\n") if block.strip()]
    assert blocks[0] == ["WEBVTT"]
    cues = blocks[1:]
    assert len(cues) == 10
    assert cues[0] == ["00:00:00.000 --> 00:00:02.500", "sprite.jpg#xywh=0,0,160,90"]
    assert cues[4] == ["00:00:10.000 --> 00:00:12.500", "sprite.jpg#xywh=640,0,160,90"]
    assert cues[5] == ["00:00:12.500 --> 00:00:15.000", "sprite.jpg#xywh=0,90,160,90"]
    assert cues[-1] == ["00:00:22.500 --> 00:00:25.000", "sprite.jpg#xywh=640,90,160,90"]


def test_long_videos_count_hours() -> None:
    vtt = storyboard_vtt(2 * 3600 + 0.5, (160, 90), columns=1, rows=1)
    assert "00:00:00.000 --> 02:00:00.500" in vtt
