"""How a video's timeline is cut into chunks: pure planning, no I/O.

A chunk is a few seconds of the source that one task decodes once and encodes for every rung. Chunks
start on HLS segment boundaries (a chunk is a whole number of segments), so the segments of all
chunks, listed in order, make one continuous variant playlist per rung.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: A last chunk shorter than this joins the one before it (a chunk of a frame or two is all overhead,
#: and one shorter than a frame would encode nothing).
MIN_TAIL_S = 1.0


class ChunkSettings(BaseSettings):
    """How long the chunks of a video are (VIDEO_*): shorter ones play sooner and spread over more
    workers, longer ones pay ffmpeg's start-up and the encoder's look-ahead less often."""

    model_config = SettingsConfigDict(env_prefix="VIDEO_")

    #: Seconds of video per chunk task: a whole number of HLS segments (VIDEO_HLS_SEGMENT_S).
    chunk_s: int = 8
    #: VIDEO_FIRST_CHUNK_SEGMENTS: the first chunk is this many segments (at most a chunk): the
    #: video plays once it and the audio are stored, so a short one plays sooner.
    first_chunk_segments: int = Field(default=1, ge=1)
    #: VIDEO_AV1: also an AV1 (SVT-AV1) variant of the top rung, in the same decode as the H.264 rungs.
    av1: bool = False
    #: VIDEO_READ_BY_URL_FROM_BYTES: chunk tasks read an original at least this large through a
    #: presigned URL (ranged GETs: only their stretch of it and its index) and download smaller ones
    #: whole. Each seek drops a connection storage has already sent megabytes ahead on (its send
    #: buffers: about 20 MB a chunk task in all, measured in docs/benchmarks.md), so ranges pay
    #: only for originals well above that.
    read_by_url_from_bytes: int = 64 * 1024**2


@dataclass(frozen=True)
class Chunk:
    index: int
    start_s: float
    length_s: float
    #: Number of the chunk's first HLS segment (segments are numbered over the whole video).
    first_segment: int


def plan_chunks(
    duration_s: float, chunk_s: int, segment_s: int, first_chunk_s: int | None = None
) -> list[Chunk]:
    """The chunks covering `duration_s`: the first `first_chunk_s` long (default: `chunk_s`), the
    others `chunk_s`; `ValueError` if a chunk is not a whole number of segments."""
    first_chunk_s = chunk_s if first_chunk_s is None else min(first_chunk_s, chunk_s)
    for length in (chunk_s, first_chunk_s):
        if segment_s <= 0 or length <= 0 or length % segment_s:
            raise ValueError(f"a chunk ({length} s) must be a whole number of segments ({segment_s} s)")
    starts = [0]
    while round(duration_s - (next_start := first_chunk_s + (len(starts) - 1) * chunk_s), 6) > 0:
        starts.append(next_start)
    ends = [*starts[1:], duration_s]
    chunks = [
        Chunk(
            index=index,
            start_s=float(start),
            length_s=min(float(end), duration_s) - start,
            first_segment=start // segment_s,
        )
        for index, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]
    if len(chunks) > 1 and chunks[-1].length_s < MIN_TAIL_S:
        tail = chunks.pop()
        chunks[-1] = replace(chunks[-1], length_s=chunks[-1].length_s + tail.length_s)
    return chunks


def chunk_task_id(index: int) -> str:
    return f"chunk-{index:05d}"
