"""The storyboard's WebVTT thumbnails track: which tile of the sprite sheet shows each stretch of time.

Players (and the upload page) read each cue's `sprite.jpg#xywh=x,y,w,h` (a media fragment) to show
the tile as a preview while the viewer hovers over the timeline.
"""

from __future__ import annotations


def storyboard_vtt(
    duration_s: float, thumbnail: tuple[int, int], columns: int, rows: int, sprite_uri: str = "sprite.jpg"
) -> str:
    """One cue per tile, row by row, the tiles taken evenly over `duration_s` (as the sprite's
    `fps=count/duration` takes them)."""
    count = columns * rows
    width, height = thumbnail
    step_s = duration_s / count
    lines = ["WEBVTT", ""]
    for index in range(count):
        x, y = (index % columns) * width, (index // columns) * height
        start, end = index * step_s, duration_s if index == count - 1 else (index + 1) * step_s
        lines += [
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{sprite_uri}#xywh={x},{y},{width},{height}",
            "",
        ]
    return "\n".join(lines)


def _timestamp(seconds: float) -> str:
    """WebVTT's `hh:mm:ss.ttt`."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"
