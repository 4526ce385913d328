"""Encoding one image into its renditions with Pillow. Runs in a child process (see `pool.py`).

A hostile file gets no further here than at upload: it is decoded only as the format the upload check
identified (the job's content type), a picture over the pixel limit is refused whatever its format
claims, and the memory an image takes is bounded by its pixels. At most two full-size copies of the
picture exist at any moment (the decoded original, and its conversion to a mode that can be resampled),
each at most `WORST_BYTES_PER_PIXEL / 2` bytes a pixel, so the pixel limit bounds the encoder's memory:
`max_pixels * WORST_BYTES_PER_PIXEL` plus the interpreter's own. Everything after the first downscale
works on pictures no larger than the largest rendition.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from services.reencoder.renditions import IMAGE_LADDER, RenditionSpec, plan_renditions
from shared.media import CorruptImage, ImageTooLarge, image_formats_for, inspect_image

#: The most bytes a pixel of the source takes while it is encoded: Pillow keeps every mode that is not
#: one byte a pixel in four bytes, and the full-size picture exists at most twice (see the docstring).
WORST_BYTES_PER_PIXEL = 8

_ORIENTATION = 0x0112
#: EXIF orientation -> the transposition that shows the picture upright (as `ImageOps.exif_transpose`).
_UPRIGHT: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: Modes Pillow resamples as they are (LA and RGBA premultiplied on the way).
_RESAMPLED_AS_IS = ("L", "RGB", "LA", "RGBA")
#: libavif's encoder speed (0 slowest .. 10 fastest): at 9 a 2560-pixel AVIF takes about as long as
#: its WebP (about 1 s on one busy core), at 8 over twice that, for a file a few per cent smaller.
AVIF_SPEED = 9


@dataclass(frozen=True)
class EncodedFile:
    spec: RenditionSpec
    path: Path
    width: int
    height: int
    bytes: int


def encode_image(
    source: Path,
    out_dir: Path,
    max_pixels: int,
    content_type: str | None = None,
    ladder: tuple[RenditionSpec, ...] = IMAGE_LADDER,
) -> list[EncodedFile]:
    """Write every rendition of `source` into `out_dir`.

    `source` is decoded only as the format of `content_type` (the MIME type the upload check saw;
    None: any format the site accepts). EXIF orientation is applied, then all metadata but the colour
    profile is left behind (Pillow writes EXIF/XMP only when asked). Raises `MediaRejected` subclasses
    for input the site refuses.
    """
    formats = image_formats_for(content_type)
    Image.MAX_IMAGE_PIXELS = max_pixels
    inspect_image(source, max_pixels, formats)
    out_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # Pillow only warns between the limit and twice the limit: here that is a refusal.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _encode(source, out_dir, formats, ladder)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
            raise ImageTooLarge(f"image is too large to decode safely: {error}") from error


def _encode(
    source: Path, out_dir: Path, formats: list[str], ladder: tuple[RenditionSpec, ...]
) -> list[EncodedFile]:
    largest_edge = max(spec.max_edge for spec in ladder)
    with Image.open(source, formats=formats) as original:
        # JPEG can decode at a reduced scale: never decode more pixels than the largest output needs.
        original.draft("RGB", (largest_edge, largest_edge))
        try:
            original.seek(0)  # animated GIF/WebP: the first frame
            original.load()
            orientation = original.getexif().get(_ORIENTATION, 1)
            resizable = _resizable(original)
        except (OSError, SyntaxError, ValueError) as error:
            raise CorruptImage(f"image data is truncated or corrupt: {error}") from error
        icc_profile = original.info.get("icc_profile")
        if resizable is not original:
            original.close()  # frees the decoded pixels: one full-size copy at a time from here
        transpose = _UPRIGHT.get(orientation) if isinstance(orientation, int) else None
        turned = orientation in (5, 6, 7, 8)  # a quarter turn: width and height swap
        width, height = resizable.size
        shown = (height, width) if turned else (width, height)
        planned = plan_renditions(*shown, ladder)
        # Sizes before turning upright: the picture is turned once it is small.
        stored = [((p.height, p.width) if turned else (p.width, p.height)) for p in planned]
        biggest = max(stored, key=lambda size: size[0] * size[1])
        base = _resize(resizable, biggest)
        if base is original:
            base = original.copy()  # it is no larger than a rendition; the original closes below
        if resizable is not base:
            resizable.close()
    files = []
    for plan, size in zip(planned, stored, strict=True):
        spec = plan.spec
        resized = _resize(base, size)
        if transpose is not None:
            resized = resized.transpose(transpose)
        resized = _normalise_mode(resized, has_alpha=base.mode in ("LA", "RGBA"))
        if spec.format == "JPEG" and resized.mode != "RGB":
            resized = _flatten_on_white(resized)
        path = out_dir / f"{spec.name}.{spec.extension}"
        options: dict[str, object] = {"quality": spec.quality}
        if icc_profile:
            options["icc_profile"] = icc_profile
        options.update(_FORMAT_OPTIONS[spec.format])
        resized.save(path, format=spec.format, **options)
        files.append(EncodedFile(spec, path, plan.width, plan.height, path.stat().st_size))
    return files


#: How each format of the ladder is written, beyond its quality (and the colour profile).
_FORMAT_OPTIONS: dict[str, dict[str, object]] = {
    "JPEG": {"optimize": True, "progressive": True},
    "WEBP": {"method": 4},
    "AVIF": {"speed": AVIF_SPEED},
}


def _resizable(image: Image.Image) -> Image.Image:
    """`image` itself when Pillow resamples its mode well; else RGB, or RGBA when it has transparency
    (palettes, bilevel, 16-bit, float, CMYK...)."""
    if image.mode in _RESAMPLED_AS_IS and "transparency" not in image.info:
        return image
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _resize(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _normalise_mode(image: Image.Image, has_alpha: bool) -> Image.Image:
    """RGB, or RGBA when the image has transparency."""
    wanted = "RGBA" if has_alpha else "RGB"
    return image if image.mode == wanted else image.convert(wanted)


def _flatten_on_white(image: Image.Image) -> Image.Image:
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A") if "A" in image.getbands() else None)
    return background
