"""What the site accepts as media, checked the same way at upload time and in the workers.

Only headers are read here, so a decompression bomb is refused before a single pixel is decoded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

#: Pillow format name -> the MIME type the site reports for it.
IMAGE_FORMATS: dict[str, str] = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
    "TIFF": "image/tiff",
    "AVIF": "image/avif",
}


class MediaRejected(Exception):
    """Input the site refuses; the message is shown to the user as the reason."""


class NotAnImage(MediaRejected):
    pass


class ImageTooLarge(MediaRejected):
    pass


class CorruptImage(MediaRejected):
    pass


@dataclass(frozen=True)
class ImageInfo:
    format: str
    content_type: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def inspect_image(source: Path | BinaryIO, max_pixels: int) -> ImageInfo:
    """Identify an image from its header and check its size against `max_pixels`.

    Raises `NotAnImage` for anything that is not one of `IMAGE_FORMATS`, `ImageTooLarge` for a
    picture over the pixel limit (decompression bombs included).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source, formats=list(IMAGE_FORMATS)) as image:
                info = ImageInfo(
                    format=image.format or "",
                    content_type=IMAGE_FORMATS.get(image.format or "", "application/octet-stream"),
                    width=image.width,
                    height=image.height,
                )
    except Image.DecompressionBombError as error:
        raise ImageTooLarge(f"image is too large to decode safely: {error}") from error
    except UnidentifiedImageError as error:
        accepted = ", ".join(sorted(IMAGE_FORMATS))
        raise NotAnImage(f"not a supported image (accepted formats: {accepted})") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise CorruptImage(f"image header is damaged: {error}") from error
    if info.width <= 0 or info.height <= 0:
        raise CorruptImage("image has no pixels")
    if info.pixels > max_pixels:
        raise ImageTooLarge(
            f"image is {info.width}x{info.height} = {info.pixels:,} pixels, over the limit of {max_pixels:,}"
        )
    return info
