"""Test images made on the fly with Pillow, so no binary fixtures are committed."""

from __future__ import annotations

import io

from PIL import Image


def image_bytes(
    width: int = 640,
    height: int = 480,
    format: str = "JPEG",
    *,
    orientation: int | None = None,
    mode: str = "RGB",
    with_gps: bool = False,
) -> bytes:
    """A gradient image (so encoders have real work) in `format`, optionally with EXIF tags."""
    gradient = Image.linear_gradient("L").resize((width, height))
    if mode == "RGBA":
        image = Image.merge(
            "RGBA", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient, gradient)
        )
    else:
        image = Image.merge("RGB", (gradient, gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT), gradient))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if with_gps:
        exif[0x010F] = "TestCam"  # Make
        exif[0x8825] = {2: (51.0, 30.0, 0.0)}  # GPSInfo: latitude
    buffer = io.BytesIO()
    options: dict[str, object] = {}
    if len(exif):
        options["exif"] = exif
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A tiny PNG that declares a huge canvas: a decompression bomb."""
    buffer = io.BytesIO()
    Image.new("1", (width, height)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
