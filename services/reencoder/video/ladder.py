"""Which outputs a video gets: pure planning, no I/O.

Rungs are named by their short edge ("720p" is 1280x720 landscape or 720x1280 portrait), never
upscaled, aspect ratio kept, and both dimensions even (H.264 with 4:2:0 chroma needs that).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import VideoOutput


@dataclass(frozen=True)
class Rung:
    short_edge: int
    video_kbps: int
    audio_kbps: int


#: An H.264/AAC ladder close to what streaming services publish for 16:9 sources.
VIDEO_LADDER: tuple[Rung, ...] = (
    Rung(360, 800, 96),
    Rung(720, 2800, 128),
    Rung(1080, 5000, 160),
)
#: Poster and sprite thumbnails fit in these long edges.
POSTER_EDGE = 1280
THUMBNAIL_EDGE = 160
PREVIEW_TASK = "preview"


def even(value: float) -> int:
    """The nearest even integer, at least 2."""
    return max(2, 2 * round(value / 2))


def scaled(width: int, height: int, short_edge: int) -> tuple[int, int]:
    """(width, height) scaled so the short edge is `short_edge`, both even."""
    scale = short_edge / min(width, height)
    return even(width * scale), even(height * scale)


def fit_long_edge(width: int, height: int, long_edge: int) -> tuple[int, int]:
    """(width, height) fitted in `long_edge` (never upscaled), both even."""
    scale = min(1.0, long_edge / max(width, height))
    return even(width * scale), even(height * scale)


def plan_ladder(width: int, height: int, ladder: tuple[Rung, ...] = VIDEO_LADDER) -> list[VideoOutput]:
    """The MP4/HLS renditions of a video displayed at `width` x `height`.

    Every rung up to the source's short edge; a source smaller than the lowest rung gets one rendition
    at its own size.
    """
    short = min(width, height)
    fitting = [rung for rung in ladder if rung.short_edge <= short]
    if not fitting:
        lowest = ladder[0]
        w, h = even(width), even(height)
        return [VideoOutput(name=f"{min(w, h)}p", width=w, height=h, **_rates(lowest))]
    outputs = []
    for rung in fitting:
        w, h = scaled(width, height, rung.short_edge)
        outputs.append(VideoOutput(name=f"{rung.short_edge}p", width=w, height=h, **_rates(rung)))
    return outputs


def with_av1_top(outputs: list[VideoOutput]) -> list[VideoOutput]:
    """The ladder plus an AV1 variant of its top rung (`<rung>av1`, about 60 % of its bitrate: AV1
    needs less for the same picture), listed last: players that decode AV1 pick it by its CODECS."""
    top = outputs[-1]
    av1 = top.model_copy(
        update={"name": f"{top.name}av1", "codec": "av1", "video_kbps": top.video_kbps * 6 // 10}
    )
    return [*outputs, av1]


def plan_preview(width: int, height: int) -> VideoOutput:
    """The poster frame's size (the sprite's thumbnails are derived from it)."""
    w, h = fit_long_edge(width, height, POSTER_EDGE)
    return VideoOutput(name=PREVIEW_TASK, width=w, height=h)


def task_weights(outputs: list[VideoOutput], preview: VideoOutput) -> dict[str, float]:
    """Each task's share of the job's work, by pixels encoded (previews are a small fixed share)."""
    pixels = {o.name: float(o.width * o.height) for o in outputs}
    total = sum(pixels.values())
    preview_share = 0.05
    weights = {name: (1 - preview_share) * p / total for name, p in pixels.items()}
    weights[preview.name] = preview_share
    return weights


def _rates(rung: Rung) -> dict[str, int]:
    return {"video_kbps": rung.video_kbps, "audio_kbps": rung.audio_kbps}
