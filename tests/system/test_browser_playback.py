"""Viewer analytics in a real browser: Chromium plays an uploaded video on its page, the page's playback
beacons reach the metrics service, and the summary's figures for that video show its startup time and
watch time."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from tests.system import test_browser
from tests.system.conftest import Site
from tests.system.test_metrics import summary_when
from tests.video_samples import video_bytes

DONE_WITHIN_MS = test_browser.DONE_WITHIN_MS

# The browser signed in through the forms, as tests/system/test_browser.py makes it.
browser = test_browser.browser
account = test_browser.account
page = test_browser.page


def video_figures(
    job_id: str, condition: Callable[[dict[str, Any]], bool]
) -> Callable[[dict[str, Any]], bool]:
    """A summary condition on the 5-minute window's figures of one video."""

    def holds(summary: dict[str, Any]) -> bool:
        videos = summary["windows"]["300s"]["playback"]["videos"]
        return any(video["job_id"] == job_id and condition(video) for video in videos)

    return holds


def the_video(summary: dict[str, Any], job_id: str) -> dict[str, Any]:
    (video,) = (v for v in summary["windows"]["300s"]["playback"]["videos"] if v["job_id"] == job_id)
    found: dict[str, Any] = video
    return found


def upload_and_open(tab: Page, tmp_path: Path) -> str:
    """Upload a short video through the page, open its own page once done; returns its job id."""
    clip = tmp_path / "watched.mp4"
    clip.write_bytes(video_bytes(seconds=4.0, width=320, height=240))
    tab.goto("/")
    tab.set_input_files("#file-input", str(clip))
    sent = tab.locator(".sent-file", has_text="watched.mp4")
    expect(sent.locator(".file-status")).to_have_text(re.compile("^(queued|processing|done)"), timeout=60_000)
    sent.get_by_role("link", name="open").click()
    expect(tab.locator("#status")).to_have_text("done", timeout=DONE_WITHIN_MS)
    expect(tab.locator("#player")).to_be_visible()
    job_id = tab.url.rstrip("/").rsplit("/", 1)[-1]
    assert re.fullmatch(r"[0-9a-zA-Z-]+", job_id), tab.url
    return job_id


def play(tab: Page) -> None:
    """Start the player once the page has given it its video (muted: autoplay rules allow that)."""
    tab.wait_for_function("document.getElementById('player').dataset.src", timeout=60_000)
    tab.evaluate(
        "() => { const v = document.getElementById('player'); v.muted = true; v.play().catch(() => {}); }"
    )


def test_a_played_video_shows_its_startup_and_watch_time(
    small_site: Site, page: Page, tmp_path: Path
) -> None:
    job_id = upload_and_open(page, tmp_path)
    play(page)
    # The end of the video sends a beacon with the seconds watched (the first frame sent one already).
    page.wait_for_function("document.getElementById('player').ended", timeout=60_000)

    summary = summary_when(small_site.http, video_figures(job_id, lambda v: v["watched_seconds"] >= 3))
    watched = the_video(summary, job_id)
    assert watched["sessions"] >= 1
    assert watched["startup_ms"]["p50"] is not None
    assert watched["rebuffers"] == 0
