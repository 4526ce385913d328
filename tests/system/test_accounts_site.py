"""Accounts on the running site: every endpoint refuses nobody and other users, deletion, browser flow."""

from __future__ import annotations

import httpx
import pytest

from services.frontend.accounts.pages import FORM_CSRF_COOKIE
from shared.events import MEDIA_DELETED, USER_ACTIVITY, ActivityKind
from tests.api_client import TEST_PASSWORD, sign_up
from tests.eventually import eventually
from tests.media_samples import image_bytes
from tests.system.conftest import Site, read_topic


@pytest.fixture(scope="module")
def finished_job(site: Site) -> str:
    job_id = site.upload_ok(image_bytes(), "mine.jpg")
    assert site.wait_for(job_id)["status"] == "done"
    return job_id


def _protected_requests(job_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", "/api/jobs"),
        ("GET", f"/api/jobs/{job_id}"),
        ("GET", f"/api/jobs/{job_id}/events"),
        ("GET", f"/media/{job_id}/thumbnail"),
        ("GET", f"/media/{job_id}/hls/720p/index.m3u8"),
        ("DELETE", f"/api/jobs/{job_id}"),
        ("GET", "/api/auth/me"),
        ("POST", "/api/auth/logout"),
    ]


def test_nobody_gets_401_everywhere(site: Site, finished_job: str) -> None:
    with httpx.Client(base_url=site.stack.config.frontend_url, timeout=30) as anonymous:
        upload = anonymous.post("/api/uploads", files={"file": ("a.jpg", image_bytes(), "image/jpeg")})
        assert upload.status_code == 401
        assert "sign in" in upload.json()["detail"]
        for method, path in _protected_requests(finished_job):
            response = anonymous.request(method, path)
            assert response.status_code == 401, (method, path, response.text)
        assert anonymous.get("/", follow_redirects=False).headers["location"] == "/login?next=/"


def test_another_user_cannot_see_download_or_delete(site: Site, finished_job: str) -> None:
    other = site.another_user()
    try:
        for method, path in _protected_requests(finished_job)[1:6]:
            response = other.http.request(method, path)
            assert response.status_code == 404, (method, path, response.text)
            assert finished_job in response.json()["detail"]
        assert finished_job not in other.http.get("/api/jobs").text
        assert site.job(finished_job)["status"] == "done"  # untouched for its owner
    finally:
        other.http.close()


def test_the_owner_deletes_an_upload_and_everyone_hears_of_it(site: Site) -> None:
    job_id = site.upload_ok(image_bytes(), "to-delete.jpg")
    assert site.wait_for(job_id)["status"] == "done"
    assert site.store.list_keys(site.store.renditions_bucket, f"{job_id}/")

    assert site.http.delete(f"/api/jobs/{job_id}").status_code == 204
    assert site.http.get(f"/api/jobs/{job_id}").status_code == 404
    assert site.http.get(f"/media/{job_id}/thumbnail").status_code == 404
    assert site.store.list_keys(site.store.renditions_bucket, f"{job_id}/") == []
    assert site.store.list_keys(site.store.uploads_bucket, f"{job_id}/") == []
    assert site.http.delete(f"/api/jobs/{job_id}").status_code == 404

    deleted = [event for event in read_topic(site.stack, MEDIA_DELETED) if event.job_id == job_id]
    assert len(deleted) == 1
    assert deleted[0].objects_removed >= 5  # the original and its renditions
    activity = [
        event.kind for event in read_topic(site.stack, USER_ACTIVITY) if event.user_id == deleted[0].user_id
    ]
    assert ActivityKind.REGISTERED in activity
    assert ActivityKind.UPLOADED in activity
    assert ActivityKind.DELETED in activity


def test_a_browser_signs_in_and_uploads_with_its_csrf_token(site: Site) -> None:
    with httpx.Client(base_url=site.stack.config.frontend_url, timeout=30) as browser:
        username = f"browser-{id(browser) % 10**8}"
        registered = browser.post(
            "/api/auth/register",
            json={"username": username, "email": f"{username}@example.org", "password": TEST_PASSWORD},
        )
        assert registered.status_code == 201
        form = browser.get("/login?next=/")
        assert form.status_code == 200
        signed_in = browser.post(
            "/login",
            data={
                "username": username,
                "password": TEST_PASSWORD,
                "csrf_token": str(browser.cookies.get(FORM_CSRF_COOKIE)),
                "next": "/",
            },
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        page = browser.get("/")
        assert page.status_code == 200
        assert 'id="upload-form"' in page.text

        files = {"file": ("b.jpg", image_bytes(), "image/jpeg")}
        assert browser.post("/api/uploads", files=files).status_code == 403  # a forged request
        csrf = browser.get("/api/auth/me").json()["csrf_token"]
        accepted = browser.post("/api/uploads", files=files, headers={"X-CSRF-Token": csrf})
        assert accepted.status_code == 202, accepted.text
        assert browser.get(f"/api/jobs/{accepted.json()['job_id']}").status_code == 200


def test_tokens_of_one_user_are_refused_after_logout(site: Site) -> None:
    with httpx.Client(base_url=site.stack.config.frontend_url, timeout=30) as http:
        sign_up(http)
        assert http.get("/api/jobs").status_code == 200
        assert http.post("/api/auth/logout").status_code == 204
        assert http.get("/api/jobs").status_code == 401


def test_oversized_forms_are_refused_before_they_are_read(site: Site) -> None:
    with httpx.Client(base_url=site.stack.config.frontend_url, timeout=30) as anonymous:
        huge = anonymous.post("/login", data={"username": "x" * 200_000, "password": "y"})
        assert huge.status_code == 413
        assert "limit" in huge.json()["detail"]
        register = anonymous.post(
            "/api/auth/register", json={"username": "a", "email": "b", "password": "c" * 100_000}
        )
        assert register.status_code == 413


def test_a_signed_in_users_click_joins_their_activity(site: Site) -> None:
    user_id = site.http.get("/api/auth/me").json()["user"]["user_id"]
    link = f"/docs#{user_id[:8]}"
    assert site.http.post("/api/clicks", json={"link": link, "page": "/"}).status_code == 202
    clicks = eventually(
        lambda: [
            event
            for event in read_topic(site.stack, USER_ACTIVITY, 2)
            if event.kind == ActivityKind.CLICKED and event.subject == f"link:{link}"
        ],
        timeout=30,
        interval=0,
        what=f"a click on {link} on {USER_ACTIVITY.name}",
    )
    assert [event.user_id for event in clicks] == [user_id]
