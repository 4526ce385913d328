"""Response bodies of the public API."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from pydantic import BaseModel

from services.frontend.delivery import hls_master_key
from shared.database import JobRow
from shared.events import JobStatus


class UploadAccepted(BaseModel):
    job_id: str
    status_url: str


class RenditionOut(BaseModel):
    name: str
    content_type: str
    width: int
    height: int
    bytes: int
    url: str


class JobOut(BaseModel):
    job_id: str
    status: JobStatus
    progress: float
    error: str | None
    filename: str
    kind: str
    size_bytes: int
    #: The worker that last reported on the job.
    worker_id: str | None
    created_at: datetime
    updated_at: datetime
    renditions: list[RenditionOut]
    #: Seconds left while the job runs, estimated by the live stream (`/events`) from the progress rate.
    eta_s: float | None = None
    #: Videos: when the job became playable while it encodes (its HLS package at `stream_url`, growing
    #: until the job is done); None before that and for images.
    playable_at: datetime | None = None
    #: The HLS master playlist to play, once the video is playable (still encoding or done).
    stream_url: str | None = None

    @classmethod
    def from_row(cls, job: JobRow, request: Request) -> JobOut:
        playable = hls_master_key(job) is not None
        return cls(
            job_id=job.id,
            status=JobStatus(job.status),
            progress=job.progress,
            error=job.error,
            filename=job.filename,
            kind=job.kind,
            size_bytes=job.size_bytes,
            worker_id=job.worker_id,
            created_at=job.created_at,
            updated_at=job.updated_at,
            playable_at=job.playable_at,
            stream_url=str(request.url_for("download_rendition", job_id=job.id, name="hls"))
            if playable
            else None,
            renditions=[
                RenditionOut(
                    name=r.name,
                    content_type=r.content_type,
                    width=r.width,
                    height=r.height,
                    bytes=r.bytes,
                    url=str(request.url_for("download_rendition", job_id=job.id, name=r.name)),
                )
                for r in job.renditions
            ],
        )


class JobList(BaseModel):
    jobs: list[JobOut]
    total: int
    limit: int
    offset: int


class Problem(BaseModel):
    """Every refusal: a status code and a sentence saying what was wrong."""

    detail: str
