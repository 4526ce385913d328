"""Viewers' playback beacons on the real stack: posted to the frontend, figures on the metrics API."""

from __future__ import annotations

from typing import Any

import httpx

from shared.events import new_id
from tests.system.conftest import Site
from tests.system.test_metrics import summary_when


def beacon(session_id: str, **figures: object) -> dict[str, object]:
    return {"job_id": new_id(), "session_id": session_id, **figures}


def test_beacons_become_startup_rebuffering_and_error_figures(small_site: Site) -> None:
    anonymous = httpx.Client(base_url=str(small_site.http.base_url), timeout=30)
    with anonymous:
        # A share-link viewer is not signed in: its beacons count too.
        sent = [
            small_site.http.post("/api/playback", json=beacon("a", first=True, startup_ms=400, watched_s=8)),
            anonymous.post("/api/playback", json=beacon("b", first=True, startup_ms=1200, watched_s=6)),
            anonymous.post("/api/playback", json=beacon("b", rebuffers=1, rebuffer_s=2, watched_s=4)),
            anonymous.post("/api/playback", json=beacon("c", first=True, errors=1)),
        ]
    assert [response.status_code for response in sent] == [202] * 4, [r.text for r in sent]

    def seen(summary: dict[str, Any]) -> bool:
        return bool(summary["windows"]["300s"]["playback"]["sessions"] >= 3)

    playback = summary_when(small_site.http, seen)["windows"]["300s"]["playback"]
    assert playback["watched_seconds"] >= 18
    assert 0 < playback["rebuffer_ratio"] < 1
    assert 0 < playback["error_rate"] <= 1
    assert playback["startup_ms"]["p50"] is not None


def test_a_bad_beacon_is_refused_with_a_reason(small_site: Site) -> None:
    response = small_site.http.post("/api/playback", json=beacon("a", watched_s=-1))
    assert response.status_code == 422
    assert "watched_s" in response.text
    unknown_field = small_site.http.post("/api/playback", json=beacon("a", user_id="someone-else"))
    assert unknown_field.status_code == 422


def test_one_anonymous_viewer_cannot_flood_the_beacons(small_site: Site) -> None:
    with httpx.Client(base_url=str(small_site.http.base_url), timeout=30) as anonymous:
        answers = [anonymous.post("/api/playback", json=beacon("flood")).status_code for _ in range(40)]
    assert 429 in answers
    assert answers.count(202) <= 30
