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


def image_formats_for(content_type: str | None) -> list[str]:
    """The Pillow format that the upload check identified as `content_type` (its MIME type), so that
    the workers decode a file as what it was accepted as and nothing else (a file can be two formats at
    once: a TIFF whose header is also a GIMP brush's). None: any of `IMAGE_FORMATS`."""
    if content_type is None:
        return list(IMAGE_FORMATS)
    formats = [name for name, mime in IMAGE_FORMATS.items() if mime == content_type]
    if not formats:
        raise NotAnImage(f"{content_type!r} is not an image type the site accepts")
    return formats


def inspect_image(source: Path | BinaryIO, max_pixels: int, formats: list[str] | None = None) -> ImageInfo:
    """Identify an image from its header and check its size against `max_pixels`.

    Raises `NotAnImage` for anything that is not one of `formats` (default: `IMAGE_FORMATS`),
    `ImageTooLarge` for a picture over the pixel limit (decompression bombs included).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source, formats=formats or list(IMAGE_FORMATS)) as image:
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


#: Content types of an HLS package, by file extension (the worker stores, the frontend serves them).
HLS_CONTENT_TYPES: dict[str, str] = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
}


#: Major brands of ISO base media files that hold still images, not videos.
_STILL_IMAGE_BRANDS = {
    b"avif",
    b"avis",
    b"heic",
    b"heix",
    b"heim",
    b"heis",
    b"mif1",
    b"msf1",
    b"jp2 ",
    b"jpx ",
}


def sniff_video(head: bytes) -> str | None:
    """The MIME type of a video container from its first bytes, or None if it is not one we accept.

    Only the container is recognised here (MP4, MOV, Matroska, WebM, AVI); whether its streams decode
    is for ffprobe in the workers to say.
    """
    if len(head) >= 12 and head[4:8] == b"ftyp":
        if head[8:12] in _STILL_IMAGE_BRANDS:
            return None  # AVIF, HEIF, JPEG 2000: the same box format, but pictures
        return "video/quicktime" if head[8:10] == b"qt" else "video/mp4"
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    return None
