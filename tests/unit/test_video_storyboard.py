"""The storyboard: its WebVTT thumbnails track and its sprite sheet, tiled from the chunks' thumbnails."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from PIL import Image

from services.reencoder.video.sprite import nearest_present, tile_sprite
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


def thumbnail(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (16, 9)) -> Path:
    Image.new("RGB", size, color).save(path, "JPEG", quality=95)
    return path


def tile_colors(sprite: Path, columns: int, rows: int, size: tuple[int, int]) -> list[tuple[int, ...]]:
    """The colour at the centre of each tile, row by row."""
    with Image.open(sprite) as picture:
        rgb = picture.convert("RGB")
        return [
            cast(
                tuple[int, ...],
                rgb.getpixel(
                    ((i % columns) * size[0] + size[0] // 2, (i // columns) * size[1] + size[1] // 2)
                ),
            )
            for i in range(columns * rows)
        ]


def close(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return all(abs(x - y) < 24 for x, y in zip(a, b, strict=True))


def test_the_sprite_tiles_thumbnails_row_by_row_and_fills_a_gap_with_the_nearest(tmp_path: Path) -> None:
    red, green, blue, white = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
    thumbnails = {
        0: thumbnail(tmp_path / "0.jpg", red),
        1: thumbnail(tmp_path / "1.jpg", green),
        # 2 is missing (1 and 3 tie: the earlier wins), 4 too (3), 5 is unreadable (6), 7 missing (6).
        3: thumbnail(tmp_path / "3.jpg", blue),
        5: tmp_path / "5.jpg",
        # A chunk's thumbnail of another size (its ladder's rounding) is scaled to the tile.
        6: thumbnail(tmp_path / "6.jpg", white, size=(18, 10)),
    }
    thumbnails[5].write_bytes(b"not a jpeg")
    sprite = tmp_path / "sprite.jpg"
    assert tile_sprite(thumbnails, (16, 9), columns=4, rows=2, target=sprite) == (64, 18)
    colors = tile_colors(sprite, 4, 2, (16, 9))
    expected = [red, green, green, blue, blue, white, white, white]
    assert all(close(color, want) for color, want in zip(colors, expected, strict=True)), colors


def test_a_video_without_thumbnails_still_gets_a_blank_sprite(tmp_path: Path) -> None:
    sprite = tmp_path / "sprite.jpg"
    assert tile_sprite({}, (16, 9), columns=5, rows=2, target=sprite) == (80, 18)
    with Image.open(sprite) as picture:
        assert picture.size == (80, 18)


def test_nearest_present_prefers_the_earlier_on_a_tie() -> None:
    assert nearest_present(2, [1, 3]) == 1
    assert nearest_present(9, [0, 4]) == 4
    assert nearest_present(0, []) is None
