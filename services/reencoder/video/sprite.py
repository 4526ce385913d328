"""The storyboard's sprite sheet, tiled from the thumbnails the chunk tasks took from their own decode.

A thumbnail may be missing (a chunk whose stretch held no frame at its time, a stream shorter than the
container said): its tile shows the nearest thumbnail present, and a video with none at all gets
blank tiles. The sprite never fails a job.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image, UnidentifiedImageError

log = logging.getLogger(__name__)

#: The sprite's JPEG quality (about ffmpeg's `-q:v 4`).
SPRITE_QUALITY = 85


def nearest_present(index: int, present: list[int]) -> int | None:
    """The present index nearest to `index` (the earlier one on a tie), None when none is."""
    if not present:
        return None
    return min(present, key=lambda candidate: (abs(candidate - index), candidate))


def tile_sprite(
    thumbnails: dict[int, Path], size: tuple[int, int], columns: int, rows: int, target: Path
) -> tuple[int, int]:
    """Write the `columns` x `rows` grid of `size` tiles (tile k from thumbnail k, row by row) to
    `target` as a JPEG; returns the sprite's (width, height)."""
    width, height = size
    pictures = {index: picture for index, path in thumbnails.items() if (picture := _open(path, size))}
    present = sorted(pictures)
    sprite = Image.new("RGB", (columns * width, rows * height))
    for index in range(columns * rows):
        nearest = nearest_present(index, present)
        if nearest is not None:
            sprite.paste(pictures[nearest], ((index % columns) * width, (index // columns) * height))
    if len(present) < columns * rows:
        log.info(
            "sprite: %d of %d thumbnails present, the nearest used for the rest", len(present), columns * rows
        )
    sprite.save(target, "JPEG", quality=SPRITE_QUALITY)
    return sprite.size


def _open(path: Path, size: tuple[int, int]) -> Image.Image | None:
    """The thumbnail at `size` (a chunk may have scaled it from a ladder's rounding), None when unreadable."""
    try:
        with Image.open(path) as opened:
            picture = opened.convert("RGB")
    except (OSError, UnidentifiedImageError) as error:
        log.warning("sprite: thumbnail %s unreadable (%s): treated as missing", path.name, error)
        return None
    return picture if picture.size == size else picture.resize(size)
