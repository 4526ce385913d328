"""Drawing one image variant with Pillow: blocking and CPU-bound, so the frontend runs it in a thread
under a semaphore (api/images.py), never on the event loop.

The source is one of the job's own stored renditions, yet it is decoded as warily as an upload: only
as the format its row names, and only when its header's pixel count is within the site's limit (a
decompression bomb stored under a job's prefix gets no further than the header).
"""

from __future__ import annotations

import io
import warnings

from PIL import Image

from services.frontend.image_variants import OutputFormat, ResizePlan
from shared.media import IMAGE_FORMATS, CorruptImage, ImageTooLarge, inspect_image

#: Content type -> the one Pillow format a stored rendition of that type is decoded as.
SOURCE_FORMATS = {content_type: name for name, content_type in IMAGE_FORMATS.items()}
#: libavif's speed (0..10): 9 keeps a miss's latency near WebP's at a few per cent more bytes.
AVIF_SPEED = 9


def render_variant(
    source: bytes, content_type: str, plan: ResizePlan, output: OutputFormat, quality: int, max_pixels: int
) -> bytes:
    """`source` (a stored rendition of `content_type`) resized by `plan`, encoded as `output`."""
    formats = [SOURCE_FORMATS[content_type]]
    inspect_image(io.BytesIO(source), max_pixels, formats)  # refuses before decoding
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(source), formats=formats) as image:
                image.draft("RGB", plan.scaled)  # JPEG: decode no more pixels than the output needs
                picture = _resampleable(image)
                icc_profile = image.info.get("icc_profile")
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
            raise ImageTooLarge(f"image is too large to decode safely: {error}") from error
        except (OSError, SyntaxError, ValueError) as error:
            raise CorruptImage(f"the stored image is truncated or corrupt: {error}") from error
    if picture.size != plan.scaled:
        picture = picture.resize(plan.scaled, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if plan.crop is not None:
        picture = picture.crop(plan.crop)
    if output.pillow == "JPEG" and picture.mode != "RGB":
        picture = _flatten_on_white(picture)
    options: dict[str, object] = {"quality": quality}
    if icc_profile:
        options["icc_profile"] = icc_profile
    options.update(_ENCODER_OPTIONS[output.pillow])
    buffer = io.BytesIO()
    picture.save(buffer, format=output.pillow, **options)
    return buffer.getvalue()


_ENCODER_OPTIONS: dict[str, dict[str, object]] = {
    "JPEG": {"optimize": True, "progressive": True},
    "WEBP": {"method": 4},
    "AVIF": {"speed": AVIF_SPEED},
}


def _resampleable(image: Image.Image) -> Image.Image:
    """The decoded picture as RGB, or RGBA when it has transparency (a copy: the file closes)."""
    image.load()
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    wanted = "RGBA" if has_alpha else "RGB"
    return image.convert(wanted) if image.mode != wanted else image.copy()


def _flatten_on_white(image: Image.Image) -> Image.Image:
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A") if "A" in image.getbands() else None)
    return background
