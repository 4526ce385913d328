"""The activity middleware recognises requests by the route that answered them, not by the raw path."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

from services.frontend import middleware
from services.frontend.middleware import activity
from shared.events import ActivityKind, UserActivity

JOB = "0123456789abcdef0123456789abcdef"


@dataclass
class Recorded:
    """Stands in for the Kafka-backed reporter: keeps what would have been sent."""

    instance_id: str = "frontend-test"
    events: list[UserActivity] = field(default_factory=list)

    def report(self, event: UserActivity) -> None:
        self.events.append(event)


def site() -> tuple[TestClient, Recorded]:
    app = FastAPI()

    @app.get("/api/jobs/{job_id}")
    async def get_job(job_id: str) -> dict[str, str]:
        if job_id != JOB:
            raise HTTPException(404, "no such job")
        return {"job_id": job_id}

    @app.get("/media/{job_id}/{name}")
    async def rendition(job_id: str, name: str) -> dict[str, str]:
        return {"name": name}

    @app.get("/media/{job_id}/hls/{variant}/{file}")
    async def hls(job_id: str, variant: str, file: str) -> dict[str, str]:
        return {"file": file}

    # Installed in main.py's order: the activity middleware (added last, so outermost) reads the
    # correlation id from the response.
    app.middleware("http")(middleware.correlation_id)
    app.middleware("http")(activity.record_activity)
    recorded = Recorded()
    app.state.activity = recorded
    return TestClient(app), recorded


def test_a_viewed_job_and_rendition_are_reported_with_the_path_and_correlation_id() -> None:
    client, recorded = site()
    client.get(f"/api/jobs/{JOB}", headers={"X-Correlation-ID": "abc123"})
    client.get(f"/media/{JOB}/thumbnail")
    assert [(e.kind, e.subject, e.request) for e in recorded.events] == [
        (ActivityKind.VIEWED, f"job:{JOB}", f"GET /api/jobs/{JOB}"),
        (ActivityKind.VIEWED, f"rendition:{JOB}/thumbnail", f"GET /media/{JOB}/thumbnail"),
    ]
    assert recorded.events[0].correlation_id == "abc123"
    assert all(e.instance_id == "frontend-test" for e in recorded.events)


def test_refusals_unmatched_paths_and_other_routes_are_not_activity() -> None:
    client, recorded = site()
    assert client.get("/api/jobs/" + "f" * 32).status_code == 404
    assert client.get("/nowhere").status_code == 404
    assert client.get(f"/media/{JOB}/hls/720p/index.m3u8").status_code == 200
    assert recorded.events == []
