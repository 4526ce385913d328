"""Response bodies of the public API."""

from __future__ import annotations

from datetime import datetime

from fastapi import Request
from pydantic import BaseModel

from services.frontend.delivery import POSTER, hls_master_key, playing_poster
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


class RenditionLinks:
    """Download URLs of one response's renditions: `url_for` walks the router (and raises for every
    route before the right one), so it is called once per response and the rest is concatenation
    (a fifth of the frontend's CPU went to it in listings; Starlette inserts path parameters as they
    are, so the result is the same string)."""

    _JOB, _NAME = "\x00job\x00", "\x00name\x00"

    def __init__(self, request: Request) -> None:
        template = str(request.url_for("download_rendition", job_id=self._JOB, name=self._NAME))
        self._before_job, rest = template.split(self._JOB, 1)
        self._before_name, self._after_name = rest.split(self._NAME, 1)

    def url(self, job_id: str, name: str) -> str:
        return f"{self._before_job}{job_id}{self._before_name}{name}{self._after_name}"


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
    #: Videos: the poster frame for the player, from the moment the video is playable (the first
    #: chunk made it), while it still encodes and after (then also among the renditions).
    poster_url: str | None = None

    @classmethod
    def from_row(cls, job: JobRow, request: Request, links: RenditionLinks | None = None) -> JobOut:
        """The job as the API shows it; a response listing many jobs passes one `links` for all."""
        links = links or RenditionLinks(request)
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
            stream_url=links.url(job.id, "hls") if playable else None,
            poster_url=links.url(job.id, POSTER) if _has_poster(job) else None,
            renditions=[
                RenditionOut(
                    name=r.name,
                    content_type=r.content_type,
                    width=r.width,
                    height=r.height,
                    bytes=r.bytes,
                    url=links.url(job.id, r.name),
                )
                for r in job.renditions
            ],
        )


def _has_poster(job: JobRow) -> bool:
    return any(r.name == POSTER for r in job.renditions) or playing_poster(job) is not None


class JobList(BaseModel):
    jobs: list[JobOut]
    total: int
    limit: int
    offset: int


class Problem(BaseModel):
    """Every refusal: a status code and a sentence saying what was wrong."""

    detail: str
