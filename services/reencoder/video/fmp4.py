"""Fragmented MP4 (CMAF) boxes, just enough to stitch chunks: read a track's timescale, move a
segment on the timeline, keep only the media of a segment.

Each chunk is encoded by its own ffmpeg, whose fragments start at time 0. The segments of chunk k
are moved to the chunk's place by adding its start to their decode times (`tfdt`, and `sidx`'s
earliest presentation time), so that all chunks of a rung play as one continuous track behind one
init segment.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

#: Boxes that only hold other boxes (on the paths this module walks).
_CONTAINERS = {b"moov", b"trak", b"mdia", b"moof", b"traf"}


class NotFragmentedMp4(ValueError):
    pass


def boxes(
    data: bytes | bytearray, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, offset, header size, total size) of each box in `data[start:end]`."""
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise NotFragmentedMp4(f"box {kind!r} at {offset} overruns its parent")
        yield kind, offset, header, size
        offset += size


def _walk(
    data: bytes | bytearray, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int, int]]:
    for kind, offset, header, size in boxes(data, start, end):
        yield kind, offset, header, size
        if kind in _CONTAINERS:
            yield from _walk(data, offset + header, offset + size)


def timescale(init: bytes) -> int:
    """The first track's timescale (ticks per second, `mdhd`) of an init segment."""
    for kind, offset, header, _size in _walk(init):
        if kind == b"mdhd":
            version = init[offset + header]
            field = offset + header + (20 if version == 1 else 12)
            return int(struct.unpack_from(">I", init, field)[0])
    raise NotFragmentedMp4("the init segment has no media header (mdhd)")


def shift(segment: bytes, ticks: int) -> bytes:
    """`segment` moved `ticks` later on the timeline: every `tfdt` and `sidx` start plus `ticks`."""
    data = bytearray(segment)
    moved = 0
    for kind, offset, header, _size in _walk(data):
        body = offset + header
        if kind == b"tfdt":
            _add(data, body + 4, 8 if data[body] == 1 else 4, ticks)
            moved += 1
        elif kind == b"sidx":
            # version(1) flags(3) reference_ID(4) timescale(4) earliest_presentation_time(4 or 8)
            _add(data, body + 12, 8 if data[body] == 1 else 4, ticks)
    if not moved:
        raise NotFragmentedMp4("the segment has no fragment decode time (tfdt)")
    return bytes(data)


def decode_time(segment: bytes) -> int:
    """When the segment's first fragment starts (`tfdt`), in its track's timescale."""
    for kind, offset, header, _size in _walk(segment):
        if kind == b"tfdt":
            body = offset + header
            value = struct.unpack_from(">Q" if segment[body] == 1 else ">I", segment, body + 4)[0]
            return int(value)
    raise NotFragmentedMp4("the segment has no fragment decode time (tfdt)")


def media_only(segment: bytes) -> bytes:
    """The `moof`/`mdat` pairs of a segment, without its `styp` and `sidx`: segments so stripped,
    appended to their init segment, make one fragmented MP4 file."""
    return b"".join(segment[o : o + s] for kind, o, _h, s in boxes(segment) if kind in (b"moof", b"mdat"))


def _add(data: bytearray, at: int, width: int, ticks: int) -> None:
    fmt = ">Q" if width == 8 else ">I"
    (value,) = struct.unpack_from(fmt, data, at)
    value += ticks
    if width == 4 and value >= 2**32:
        raise NotFragmentedMp4("a 32-bit decode time would overflow")
    struct.pack_into(fmt, data, at, value)


def avc_codec_string(init: bytes) -> str:
    """`avc1.PPCCLL` (RFC 6381) of an H.264 init segment, from its decoder configuration (`avcC`)."""
    at = init.find(b"avcC")
    if at < 0 or at + 8 > len(init):
        raise NotFragmentedMp4("the init segment has no H.264 configuration (avcC)")
    profile, constraints, level = init[at + 5], init[at + 6], init[at + 7]
    return f"avc1.{profile:02x}{constraints:02x}{level:02x}"


def av1_codec_string(init: bytes) -> str:
    """`av01.P.LLT.DD` (the AV1 codec ISO media file format binding) of an AV1 init segment, from its
    configuration record (`av1C`): profile, level, tier and bit depth."""
    at = init.find(b"av1C")
    if at < 0 or at + 8 > len(init):
        raise NotFragmentedMp4("the init segment has no AV1 configuration (av1C)")
    profile, level = init[at + 5] >> 5, init[at + 5] & 0x1F
    flags = init[at + 6]
    tier = "H" if flags & 0x80 else "M"
    depth = 12 if flags & 0x40 and flags & 0x20 else 10 if flags & 0x40 else 8
    return f"av01.{profile}.{level:02d}{tier}.{depth:02d}"


def codec_string(init: bytes) -> str:
    """The RFC 6381 codec string of an H.264 or AV1 init segment."""
    return av1_codec_string(init) if b"av1C" in init else avc_codec_string(init)
