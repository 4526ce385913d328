"""Which renditions an image gets: pure planning, no I/O."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RenditionSpec:
    """One output of the ladder: the longest edge it fits in, and how it is encoded."""

    name: str
    max_edge: int
    format: str  # Pillow format name
    content_type: str
    extension: str
    quality: int


#: WebP at three sizes for modern browsers, an AVIF beside each (smaller still, for the browsers that
#: decode it: a page offers both in one `<picture>`), and a JPEG for everything else. AVIF's quality
#: scale is not WebP's: 60-66 looks like WebP's 80-85 at about the same bytes.
IMAGE_LADDER: tuple[RenditionSpec, ...] = (
    RenditionSpec("thumbnail", 320, "WEBP", "image/webp", "webp", 80),
    RenditionSpec("medium", 1280, "WEBP", "image/webp", "webp", 82),
    RenditionSpec("large", 2560, "WEBP", "image/webp", "webp", 85),
    RenditionSpec("thumbnail-avif", 320, "AVIF", "image/avif", "avif", 60),
    RenditionSpec("medium-avif", 1280, "AVIF", "image/avif", "avif", 62),
    RenditionSpec("large-avif", 2560, "AVIF", "image/avif", "avif", 66),
    RenditionSpec("fallback", 1280, "JPEG", "image/jpeg", "jpg", 85),
)


@dataclass(frozen=True)
class PlannedRendition:
    spec: RenditionSpec
    width: int
    height: int


def fit_within(width: int, height: int, max_edge: int) -> tuple[int, int]:
    """Scale (width, height) so the longest edge is at most `max_edge`; never upscales."""
    longest = max(width, height)
    if longest <= max_edge:
        return width, height
    scale = max_edge / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def plan_renditions(
    width: int, height: int, ladder: tuple[RenditionSpec, ...] = IMAGE_LADDER
) -> list[PlannedRendition]:
    """The renditions of a `width` x `height` image (after EXIF orientation is applied)."""
    return [PlannedRendition(spec, *fit_within(width, height, spec.max_edge)) for spec in ladder]


def rendition_key(job_id: str, spec: RenditionSpec) -> str:
    """Deterministic object key: a redelivered job overwrites its outputs instead of adding more."""
    return f"{job_id}/{spec.name}.{spec.extension}"


def manifest_key(job_id: str) -> str:
    """Written last: its presence means every rendition of the job is stored."""
    return f"{job_id}/manifest.json"
