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


class DamagedVideo(MediaRejected):
    """A file that starts like a video container but is not one (noise, or cut short before its index)."""


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
    #: CMAF: a variant's init segment and its media segments.
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
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


#: The ffmpeg demuxer of each container the site accepts: ffmpeg and ffprobe are told the format
#: (`-f`), never left to guess it from the bytes (where any of their demuxers could answer).
VIDEO_DEMUXERS: dict[str, str] = {
    "video/mp4": "mov",
    "video/quicktime": "mov",
    "video/x-matroska": "matroska",
    "video/webm": "matroska",
    "video/x-msvideo": "avi",
}
#: The only protocols ffmpeg and ffprobe may open on input (a local file, a pipe): a file can never
#: make them fetch a URL or open another file through a protocol (`concat:`, `subfile,`, `http:`...).
FFMPEG_PROTOCOLS = "file,pipe"
_CONTAINER_NAMES = {
    "video/mp4": "an MP4",
    "video/quicktime": "a QuickTime (MOV)",
    "video/x-matroska": "a Matroska (MKV)",
    "video/webm": "a WebM",
    "video/x-msvideo": "an AVI",
}
#: How many boxes a structure check reads at most (a real file has a handful at the top level).
_MAX_BOXES = 4096


def identify_video(file: BinaryIO, size: int) -> str | None:
    """The MIME type of `file` (`size` bytes) if it is a video container whose structure holds together;
    None if it does not start like one; `DamagedVideo` if it starts like one but its structure does not
    hold. Reads only headers, seeking past the media data, and leaves `file` where it was.

    The first bytes (`sniff_video`) are not enough: any file with `free` at offset 4 would pass as a
    video, under the video size limit. An MP4 or QuickTime file must be a chain of boxes that reaches
    a movie header (`moov` holding `mvhd`); Matroska and WebM must name their doc type in
    the EBML header; AVI must hold its header list. Whether the streams decode is for ffprobe.
    """
    start = file.tell()
    try:
        head = file.read(64)
        content_type = sniff_video(head)
        if content_type is None:
            return None
        if content_type in ("video/mp4", "video/quicktime"):
            whole = _has_movie_header(file, start, size)
        elif content_type == "video/x-msvideo":
            whole = head[12:16] == b"LIST" and b"hdrl" in head
        else:  # Matroska, WebM
            whole = b"matroska" in head or b"webm" in head
    finally:
        file.seek(start)
    if not whole:
        name = _CONTAINER_NAMES[content_type]
        raise DamagedVideo(
            f"the file starts like {name} video but is not one: its structure is damaged or cut short "
            "(no movie header)"
        )
    return content_type


def _has_movie_header(file: BinaryIO, start: int, size: int) -> bool:
    """Walk the top-level ISO boxes to `moov`, then its children to `mvhd`."""
    for kind, offset, length in _boxes(file, start, 0, size):
        if kind == b"moov":
            children = {child for child, _, _ in _boxes(file, start, offset + 8, offset + length)}
            return b"mvhd" in children
    return False


def _boxes(file: BinaryIO, start: int, begin: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, offset, size) of the boxes from `begin` to `end`; stops at the first that is not one
    (a type that is not four printable characters, a size that does not fit)."""
    found: list[tuple[bytes, int, int]] = []
    offset = begin
    while offset + 8 <= end and len(found) < _MAX_BOXES:
        file.seek(start + offset)
        header = file.read(16)
        if len(header) < 8:
            break
        length, kind = int.from_bytes(header[:4], "big"), header[4:8]
        if length == 1 and len(header) == 16:
            length = int.from_bytes(header[8:16], "big")  # 64-bit size
        elif length == 0:
            length = end - offset  # to the end of the enclosing box (or the file)
        if not all(0x20 <= byte < 0x7F for byte in kind) or length < 8 or offset + length > end:
            break
        found.append((kind, offset, length))
        offset += length
    return found


def video_demuxer(path: Path) -> str | None:
    """The ffmpeg demuxer for the video container at `path`, from its first bytes; None if it is not
    one the site accepts (or cannot be read)."""
    try:
        with path.open("rb") as file:
            content_type = sniff_video(file.read(64))
    except OSError:
        return None
    return VIDEO_DEMUXERS.get(content_type or "")
