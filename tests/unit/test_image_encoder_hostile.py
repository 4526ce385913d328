"""Hostile images: a file is decoded only as the format the upload check saw, and the encoder's memory is
bounded by the pixel limit, under the worker's memory budget (the child's address-space limit).

Files the attacker made: a TIFF whose header is also a GIMP brush's (16.8 MB, 8x8 as a TIFF, 14000x14000
as a brush), and a 194 KB greyscale-alpha PNG of 10000x10000 that took a worker to 1.68 GiB.
"""

from __future__ import annotations

import resource
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.reencoder.image_encoder import WORST_BYTES_PER_PIXEL, encode_image
from services.reencoder.job_handler import describe_encoder_death
from services.reencoder.main import ReencoderSettings
from services.reencoder.pool import EncoderPool
from shared.media import ImageTooLarge, NotAnImage, inspect_image
from shared.settings import MediaLimits

BUDGET = ReencoderSettings().encoder_memory_bytes
LIMIT = MediaLimits().max_image_pixels


def tiff_that_is_also_a_brush(width: int = 14_000, height: int = 14_000) -> bytes:
    """An 8x8 little-endian TIFF whose first 20 bytes read, big-endian, as a GIMP brush header: the IFD
    offset 0x01000000 (bytes 00 00 00 01) is the brush's "version 1", then its width, height and depth."""
    ifd_at, pixels_at = 0x0100_0000, 64
    head = b"II*\x00" + struct.pack("<I", ifd_at) + struct.pack(">III", width, height, 1)
    tags = [  # (tag, type, count, value): 8x8, 8-bit greyscale, uncompressed, one strip
        (256, 3, 1, 8),
        (257, 3, 1, 8),
        (258, 3, 1, 8),
        (259, 3, 1, 1),
        (262, 3, 1, 1),
        (273, 4, 1, pixels_at),
        (277, 3, 1, 1),
        (278, 3, 1, 8),
        (279, 4, 1, 64),
    ]
    ifd = struct.pack("<H", len(tags)) + b"".join(struct.pack("<HHII", *tag) for tag in tags)
    body = head.ljust(pixels_at, b"\0") + bytes(range(64))
    return body.ljust(ifd_at, b"\0") + ifd + struct.pack("<I", 0)


def greyscale_alpha_png(width: int, height: int) -> bytes:
    """A PNG of `width` x `height` transparent greyscale pixels (LA, 8 bits): a few hundred KB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor = zlib.compressobj(9)
    row = b"\x00" + bytes(2 * width)  # filter byte, then (grey, alpha) per pixel
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 4, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def encode_and_measure(source: Path, out_dir: Path, max_pixels: int, content_type: str) -> tuple[int, int]:
    """In the encoder child: the widest rendition, and the child's peak resident memory in bytes."""
    files = encode_image(source, out_dir, max_pixels, content_type)
    return max(file.width for file in files), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@pytest.fixture
def pool() -> Iterator[EncoderPool]:
    running = EncoderPool(memory_limit_bytes=BUDGET)
    try:
        yield running
    finally:
        running.close()


def test_a_tiff_that_is_also_a_gimp_brush_is_decoded_as_the_tiff_it_was_accepted_as(tmp_path: Path) -> None:
    """Before: the worker opened it with every Pillow plugin and decoded a 14000x14000 brush."""
    source = tmp_path / "original"  # as the worker names it: no extension to guide Pillow
    source.write_bytes(tiff_that_is_also_a_brush())
    accepted = inspect_image(source, LIMIT)
    assert (accepted.format, accepted.width, accepted.height) == ("TIFF", 8, 8)

    files = encode_image(source, tmp_path / "out", LIMIT, accepted.content_type)
    assert {(file.width, file.height) for file in files} == {(8, 8)}


def test_an_image_is_refused_when_it_is_not_the_format_it_was_accepted_as(tmp_path: Path) -> None:
    source = tmp_path / "original"
    source.write_bytes(greyscale_alpha_png(64, 64))
    with pytest.raises(NotAnImage):
        encode_image(source, tmp_path / "out", LIMIT, "image/jpeg")
    with pytest.raises(NotAnImage, match="not an image type"):
        encode_image(source, tmp_path / "out", LIMIT, "application/x-gimp-brush")


def test_the_pixel_limit_times_the_worst_mode_fits_the_memory_budget() -> None:
    assert LIMIT * WORST_BYTES_PER_PIXEL <= 0.6 * BUDGET


async def test_the_worst_image_at_the_pixel_limit_encodes_within_the_memory_budget(
    tmp_path: Path, pool: EncoderPool
) -> None:
    """An LA PNG of exactly the pixel limit, in a child limited to the budget. Before: 1.68 GiB."""
    side = int(LIMIT**0.5)
    assert side * side <= LIMIT
    source = tmp_path / "original"
    source.write_bytes(greyscale_alpha_png(side, side))
    widest, peak_rss = await pool.run(
        encode_and_measure, source, tmp_path / "out", LIMIT, "image/png", timeout_s=600
    )
    assert widest == 2560
    assert peak_rss < BUDGET


async def test_the_worst_image_just_over_the_pixel_limit_is_refused_with_the_reason(
    tmp_path: Path, pool: EncoderPool
) -> None:
    side = int(LIMIT**0.5)
    source = tmp_path / "original"
    source.write_bytes(greyscale_alpha_png(side + 1, side))
    with pytest.raises(ImageTooLarge, match=r"over the limit of 100,000,000"):
        await pool.run(encode_image, source, tmp_path / "out", LIMIT, "image/png", timeout_s=600)


def allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


async def test_an_encoder_over_its_memory_limit_fails_as_out_of_memory_and_a_fresh_child_follows() -> None:
    pool = EncoderPool(memory_limit_bytes=512 * 1024**2)
    try:
        assert await pool.run(allocate, 16, timeout_s=60) == 16 * 1024 * 1024
        with pytest.raises(MemoryError) as raised:
            await pool.run(allocate, 1024, timeout_s=60)
        assert "ran out of memory" in describe_encoder_death(raised.value)
        assert await pool.run(allocate, 16, timeout_s=60) == 16 * 1024 * 1024
    finally:
        pool.close()
