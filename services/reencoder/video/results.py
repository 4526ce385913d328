"""What a finished task leaves behind: its done-marker document, written last, read by completion."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.reencoder.video.hls import Variant
from shared.events import Rendition, VideoTaskRequested


class TaskResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_id: str
    worker_id: str
    renditions: tuple[Rendition, ...]
    #: Rendition tasks: how the master playlist lists their HLS variant.
    variant: Variant | None = None


class JobPlan(BaseModel):
    """Written by the planner before it publishes any task: which tasks make the job whole."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    tasks: tuple[VideoTaskRequested, ...]
