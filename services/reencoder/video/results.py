"""What a finished task leaves behind: its done-marker document, written last, read by completion."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.reencoder.video.hls import Variant
from shared.events import Rendition, VideoTaskRequested


class Segment(BaseModel):
    """One stored CMAF segment of a rung (or of the audio)."""

    model_config = ConfigDict(frozen=True)

    file: str
    seconds: float
    bytes: int


class TaskResult(BaseModel):
    """What a task stored, read by the packager and the job's completion."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    worker_id: str
    renditions: tuple[Rendition, ...]
    #: Rendition tasks: how the master playlist lists their HLS variant.
    variant: Variant | None = None
    #: Chunk and audio tasks: rung (or "audio") -> the segments stored, in order.
    segments: dict[str, tuple[Segment, ...]] = {}
    #: Chunk tasks: rung -> RFC 6381 codec string of its video.
    codecs: dict[str, str] = {}


class JobPlan(BaseModel):
    """Written by the planner before it publishes any task: which tasks make the job whole."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    tasks: tuple[VideoTaskRequested, ...]
    #: The tasks published at once (the first chunk and the audio: what makes the job playable); the
    #: other tasks are published once these are done. A worker takes one task at a time from its
    #: partitions in no particular order, so with all published at once the first chunk could come
    #: last. Empty: every task was published at once.
    first: tuple[str, ...] = ()
    #: Published once every task above is done: the MP4 downloads, assembled from the chunks.
    assembly: tuple[VideoTaskRequested, ...] = ()
