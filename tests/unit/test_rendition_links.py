"""The job listing builds rendition URLs from one `url_for` per response (issue #18): the same strings
`url_for` gives for each rendition, including behind a root path and for names with slashes."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from services.frontend.api.schemas import RenditionLinks


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/other/{job_id}", name="other_route")
    async def other(job_id: str) -> dict[str, str]:
        return {}

    @app.get("/media/{job_id}/{name:path}", name="download_rendition")
    async def download(job_id: str, name: str) -> dict[str, str]:
        return {}

    @app.get("/links")
    async def links(request: Request, job_id: str, name: str) -> dict[str, str]:
        return {
            "built": RenditionLinks(request).url(job_id, name),
            "url_for": str(request.url_for("download_rendition", job_id=job_id, name=name)),
        }

    return app


@pytest.mark.parametrize(
    ("root_path", "job_id", "name"),
    [
        ("", "0b6f1c9e-job", "medium.webp"),
        ("/site", "job-2", "hls"),
        ("", "job-3", "hls/720p/segment_001.m4s"),
    ],
)
def test_links_equal_url_for(root_path: str, job_id: str, name: str) -> None:
    with TestClient(_app(), root_path=root_path) as client:
        answer = client.get("/links", params={"job_id": job_id, "name": name}).json()
    assert answer["built"] == answer["url_for"]
