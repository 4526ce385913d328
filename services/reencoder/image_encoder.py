"""Encoding one image into its renditions with Pillow. Runs in a child process (see `pool.py`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from services.reencoder.renditions import IMAGE_LADDER, RenditionSpec, plan_renditions
from shared.media import CorruptImage, inspect_image


@dataclass(frozen=True)
class EncodedFile:
    spec: RenditionSpec
    path: Path
    width: int
    height: int
    bytes: int


def encode_image(
    source: Path, out_dir: Path, max_pixels: int, ladder: tuple[RenditionSpec, ...] = IMAGE_LADDER
) -> list[EncodedFile]:
    """Write every rendition of `source` into `out_dir`.

    EXIF orientation is applied, then all metadata but the colour profile is left behind (Pillow
    writes EXIF/XMP only when asked). Raises `MediaRejected` subclasses for input the site refuses.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels
    inspect_image(source, max_pixels)
    out_dir.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as original:
        # JPEG can decode at a reduced scale: never decode more pixels than the largest output needs.
        largest = max(spec.max_edge for spec in ladder)
        original.draft("RGB", (largest, largest))
        try:
            original.seek(0)  # animated GIF/WebP: the first frame
            original.load()
            upright = ImageOps.exif_transpose(original)
        except (OSError, SyntaxError, ValueError) as error:
            raise CorruptImage(f"image data is truncated or corrupt: {error}") from error
        icc_profile = original.info.get("icc_profile")
    image = _normalise_mode(upright)
    files = []
    for planned in plan_renditions(image.width, image.height, ladder):
        spec = planned.spec
        resized = image
        if (planned.width, planned.height) != image.size:
            resized = image.resize(
                (planned.width, planned.height), Image.Resampling.LANCZOS, reducing_gap=3.0
            )
        if spec.format == "JPEG" and resized.mode != "RGB":
            resized = _flatten_on_white(resized)
        path = out_dir / f"{spec.name}.{spec.extension}"
        options: dict[str, object] = {"quality": spec.quality}
        if icc_profile:
            options["icc_profile"] = icc_profile
        if spec.format == "JPEG":
            options.update(optimize=True, progressive=True)
        else:
            options.update(method=4)
        resized.save(path, format=spec.format, **options)
        files.append(EncodedFile(spec, path, planned.width, planned.height, path.stat().st_size))
    return files


def _normalise_mode(image: Image.Image) -> Image.Image:
    """RGB, or RGBA when the image has transparency; palettes and 16-bit modes are converted."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    wanted = "RGBA" if has_alpha else "RGB"
    return image if image.mode == wanted else image.convert(wanted)


def _flatten_on_white(image: Image.Image) -> Image.Image:
    background = Image.new("RGB", image.size, (255, 255, 255))
    background.paste(image, mask=image.getchannel("A") if "A" in image.getbands() else None)
    return background
