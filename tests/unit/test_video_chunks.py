"""Chunk planning, CMAF segment stitching and the growing playlists: pure, without ffmpeg."""

from __future__ import annotations

import struct

import pytest

from services.reencoder.video import fmp4
from services.reencoder.video.chunks import MIN_TAIL_S, plan_chunks
from services.reencoder.video.hls import media_playlist


def test_chunks_cover_the_video_on_segment_boundaries() -> None:
    chunks = plan_chunks(30.0, chunk_s=5, segment_s=5)
    assert [(c.start_s, c.length_s, c.first_segment) for c in chunks] == [(5.0 * i, 5.0, i) for i in range(6)]


def test_a_duration_that_is_not_a_multiple_ends_with_a_shorter_chunk() -> None:
    chunks = plan_chunks(19.5, chunk_s=8, segment_s=4)
    assert [(c.start_s, c.length_s, c.first_segment) for c in chunks] == [(0, 8, 0), (8, 8, 2), (16, 3.5, 4)]


def test_a_short_first_chunk_then_whole_chunks_on_segment_boundaries() -> None:
    chunks = plan_chunks(21.0, chunk_s=8, segment_s=4, first_chunk_s=4)
    assert [(c.start_s, c.length_s, c.first_segment) for c in chunks] == [
        (0, 4, 0),
        (4, 8, 1),
        (12, 8, 3),
        (20, 1, 5),
    ]


def test_a_first_chunk_is_never_longer_than_a_chunk_and_is_whole_segments() -> None:
    assert plan_chunks(20.0, chunk_s=8, segment_s=4, first_chunk_s=12)[0].length_s == 8
    with pytest.raises(ValueError, match="whole number of segments"):
        plan_chunks(20.0, chunk_s=8, segment_s=4, first_chunk_s=6)


def test_a_tail_shorter_than_the_minimum_joins_the_chunk_before() -> None:
    chunks = plan_chunks(16 + MIN_TAIL_S / 2, chunk_s=8, segment_s=4)
    assert len(chunks) == 2
    assert sum(c.length_s for c in chunks) == pytest.approx(16 + MIN_TAIL_S / 2)


def test_a_short_video_is_one_chunk() -> None:
    assert [(c.start_s, c.length_s) for c in plan_chunks(0.4, chunk_s=8, segment_s=4)] == [(0.0, 0.4)]


def test_a_chunk_must_be_whole_segments() -> None:
    with pytest.raises(ValueError, match="whole number of segments"):
        plan_chunks(10, chunk_s=5, segment_s=2)


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def segment(decode_time: int) -> bytes:
    tfdt = box(b"tfdt", bytes([1, 0, 0, 0]) + struct.pack(">Q", decode_time))
    sidx = box(
        b"sidx", bytes([1, 0, 0, 0]) + struct.pack(">II", 1, 12800) + struct.pack(">QQ", decode_time, 0)
    )
    return box(b"styp", b"msdh") + sidx + box(b"moof", box(b"traf", tfdt)) + box(b"mdat", b"frames")


def decode_times(data: bytes) -> list[int]:
    found = []
    for kind, offset, header, _size in fmp4._walk(data):
        if kind == b"tfdt":
            found.append(struct.unpack_from(">Q", data, offset + header + 4)[0])
    return found


def test_a_segment_moves_to_its_chunks_place_on_the_timeline() -> None:
    moved = fmp4.shift(segment(25600), 8 * 12800)
    assert decode_times(moved) == [25600 + 8 * 12800]
    sidx = moved.index(b"sidx")
    assert struct.unpack_from(">Q", moved, sidx + 16)[0] == 25600 + 8 * 12800


def test_stitching_keeps_only_fragments() -> None:
    stripped = fmp4.media_only(segment(0))
    assert [kind for kind, *_ in fmp4.boxes(stripped)] == [b"moof", b"mdat"]


def test_the_timescale_and_codec_come_from_the_init_segment() -> None:
    mdhd = box(b"mdhd", bytes(4) + struct.pack(">III", 0, 0, 12800) + bytes(8))
    avcc = b"avcC" + bytes([1, 0x64, 0x00, 0x1F])
    init = box(b"ftyp", b"iso5") + box(b"moov", box(b"trak", box(b"mdia", mdhd)) + avcc)
    assert fmp4.timescale(init) == 12800
    assert fmp4.avc_codec_string(init) == "avc1.64001f"


def test_a_segment_without_decode_time_is_refused() -> None:
    with pytest.raises(fmp4.NotFragmentedMp4):
        fmp4.shift(box(b"mdat", b"x"), 1)


def test_the_playlist_grows_as_an_event_and_ends_once() -> None:
    partial = media_playlist([("seg_00000.m4s", 4.0)], segment_s=4, init_uri="init.mp4", ended=False)
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in partial
    assert '#EXT-X-MAP:URI="init.mp4"' in partial
    assert "#EXT-X-ENDLIST" not in partial
    whole = media_playlist(
        [("seg_00000.m4s", 4.0), ("seg_00001.m4s", 2.5)], segment_s=4, init_uri="init.mp4", ended=True
    )
    assert whole.startswith(partial.removesuffix("\n").rsplit("\n", 0)[0])
    assert whole.rstrip().endswith("#EXT-X-ENDLIST")
    assert "#EXT-X-TARGETDURATION:4" in whole
