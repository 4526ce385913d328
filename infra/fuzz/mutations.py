"""Hypothesis strategies that turn real media files into hostile ones.

Seeds are small, valid JPEG, PNG, GIF, WebP and MP4 files. A case is one seed changed the way broken
uploads and attacks change files: cut short, bits flipped, headers that lie (dimensions far beyond
the pixels that follow, with checksums recomputed so decoders believe them), two formats spliced
into one (polyglots), a slice repeated, and a name and declared type that disagree with the bytes.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from hypothesis import strategies as st
from PIL import Image


@dataclass(frozen=True)
class Seed:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class FuzzCase:
    filename: str
    content_type: str
    data: bytes
    #: How the seed was changed, for the report ("png: ihdr 60000x60000").
    mutation: str


IMAGE_FORMATS = (
    ("JPEG", "jpg", "image/jpeg"),
    ("PNG", "png", "image/png"),
    ("GIF", "gif", "image/gif"),
    ("WEBP", "webp", "image/webp"),
)
#: A second of test pattern with sound, as small as H.264 and AAC make it.
TINY_MP4 = [
    *("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1"),
    *("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-shortest"),
    *("-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart"),
]


@cache
def seeds() -> tuple[Seed, ...]:
    """One small valid file per format (the MP4 only where ffmpeg is installed)."""
    made = []
    picture = Image.radial_gradient("L").resize((96, 64)).convert("RGB")
    for pillow_format, extension, content_type in IMAGE_FORMATS:
        buffer = io.BytesIO()
        picture.save(buffer, pillow_format)
        made.append(Seed(f"seed.{extension}", content_type, buffer.getvalue()))
    video = _tiny_mp4()
    if video is not None:
        made.append(Seed("seed.mp4", "video/mp4", video))
    return tuple(made)


def _tiny_mp4() -> bytes | None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "seed.mp4"
        subprocess.run([ffmpeg, "-v", "error", *TINY_MP4, str(out)], check=True)
        return out.read_bytes()


# --- mutations: each takes the seed's bytes and a draw, returns new bytes and a description -------


@st.composite
def truncated(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    keep = draw(st.integers(0, len(data)))
    return data[:keep], f"cut at {keep}/{len(data)}"


@st.composite
def bit_flips(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    changed = bytearray(data)
    # Headers are where parsers decide things: half the flips land in the first 256 bytes.
    positions = draw(
        st.lists(
            st.one_of(st.integers(0, min(255, len(data) - 1)), st.integers(0, len(data) - 1)), max_size=16
        )
    )
    for position in positions:
        changed[position] ^= 1 << draw(st.integers(0, 7))
    return bytes(changed), f"{len(positions)} bit flips"


@st.composite
def repeated_slice(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    start = draw(st.integers(0, len(data) - 1))
    end = draw(st.integers(start, min(len(data), start + 4096)))
    times = draw(st.integers(2, 64))
    return data[:end] + data[start:end] * times + data[end:], f"bytes {start}:{end} x{times}"


@st.composite
def spliced(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    other = draw(st.sampled_from(seeds()))
    cut = draw(st.integers(0, len(data)))
    return data[:cut] + other.data[cut:], f"spliced with {other.name} at {cut}"


@st.composite
def huge_dimensions(draw: st.DrawFn, data: bytes) -> tuple[bytes, str]:
    """The header claims far more pixels than the file holds (checksums fixed so it is believed)."""
    width = draw(st.sampled_from([0, 1, 65_535, 60_000, 100_000, 2**31 - 1, 2**32 - 1]))
    height = draw(st.sampled_from([0, 1, 65_535, 60_000, 100_000, 2**31 - 1, 2**32 - 1]))
    return _claim_size(data, width, height), f"header claims {width}x{height}"


def _claim_size(data: bytes, width: int, height: int) -> bytes:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        ihdr = bytearray(data[16:29])
        ihdr[0:8] = struct.pack(">II", width, height)
        crc = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
        return data[:16] + bytes(ihdr) + crc + data[33:]
    if data.startswith(b"GIF8"):
        dims = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
        return data[:6] + dims + data[10:]
    if data.startswith(b"\xff\xd8"):
        at = _jpeg_frame_header(data)
        if at is not None:
            dims = struct.pack(">HH", height & 0xFFFF, width & 0xFFFF)
            return data[: at + 5] + dims + data[at + 9 :]
    if data[8:12] == b"WEBP" and data[12:16] == b"VP8X":
        dims = (width - 1 & 0xFFFFFF).to_bytes(3, "little") + (height - 1 & 0xFFFFFF).to_bytes(3, "little")
        return data[:24] + dims + data[30:]
    return data


def _jpeg_frame_header(data: bytes) -> int | None:
    """Offset of the SOFn marker (whose payload holds the dimensions), if any."""
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker in (0xC0, 0xC1, 0xC2):
            return at
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None


MUTATIONS = (truncated, bit_flips, repeated_slice, spliced, huge_dimensions)


@st.composite
def fuzz_cases(draw: st.DrawFn) -> FuzzCase:
    seed = draw(st.sampled_from(seeds()))
    data, what = seed.data, []
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3)):
        if not data:
            break
        data, description = draw(mutation(data))
        what.append(description)
    # Sometimes the name and declared type lie about the bytes too.
    claimed = draw(st.one_of(st.just(seed), st.sampled_from(seeds())))
    return FuzzCase(
        claimed.name.replace("seed", "fuzz"), claimed.content_type, data, f"{seed.name}: {'; '.join(what)}"
    )
