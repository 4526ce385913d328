"""Viewer analytics in a real browser: Chromium plays an uploaded video on its page, the page's playback
beacons reach the metrics service, and the summary's figures for that video show its startup time and
watch time; then, on a throttled network (the DevTools protocol), the player stalls and the summary
shows the rebuffering."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from infra.local.stack import REPO_ROOT
from tests.system import test_browser
from tests.system.conftest import Site
from tests.system.test_metrics import summary_when
from tests.video_samples import video_bytes

HLS_JS = REPO_ROOT / "services" / "frontend" / "static" / "vendor" / "hls" / "hls.min.js"
#: 8 KB/s: below the audio rendition's own bitrate (96 kbit/s), so no rendition can play through
#: without stalling once its first segment has played, however well the video compresses.
THROTTLED_BYTES_PER_S = 8 * 1024
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
    # Three 4 s HLS segments: on the throttled network the second is late once the first has played.
    clip.write_bytes(video_bytes(seconds=12.0, width=320, height=240))
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


def test_a_played_video_shows_its_startup_and_watch_time_then_rebuffering_when_throttled(
    small_site: Site, account: tuple[BrowserContext, str], page: Page, tmp_path: Path
) -> None:
    job_id = upload_and_open(page, tmp_path)
    play(page)
    # The end of the video sends a beacon with the seconds watched (the first frame sent one already).
    page.wait_for_function("document.getElementById('player').ended", timeout=60_000)

    summary = summary_when(small_site.http, video_figures(job_id, lambda v: v["watched_seconds"] >= 6))
    watched = the_video(summary, job_id)
    assert watched["sessions"] >= 1
    assert watched["startup_ms"]["p50"] is not None
    assert watched["rebuffers"] == 0
    page.close()

    throttled = account[0].new_page()
    try:
        watch_throttled(throttled, job_id)
        # A beacon goes every 10 s while the page plays (or stalls): the stall reaches the summary.
        summary = summary_when(
            small_site.http, video_figures(job_id, lambda v: v["rebuffers"] >= 1), within_s=90
        )
    finally:
        throttled.close()
    stalled = the_video(summary, job_id)
    assert stalled["sessions"] >= 2
    assert stalled["rebuffer_seconds"] > 0
    assert 0 < stalled["rebuffer_ratio"] < 1


def watch_throttled(tab: Page, job_id: str) -> None:
    """Open the video's page on a network slower than the video, play it, and wait for a stall after
    its first frame (the player's `waiting` once it has played)."""
    # The player's library comes from disk, not through the slow network: only the tab and the
    # media are throttled.
    tab.route("**/vendor/hls/hls.min.js", lambda route: route.fulfill(path=HLS_JS))
    devtools = tab.context.new_cdp_session(tab)
    devtools.send("Network.enable")
    devtools.send("Network.setCacheDisabled", {"cacheDisabled": True})
    devtools.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": THROTTLED_BYTES_PER_S, "uploadThroughput": -1},
    )
    tab.add_init_script(
        """window.__stalled = false;
        document.addEventListener('waiting', (event) => {
          if (event.target.id === 'player' && event.target.currentTime > 0) window.__stalled = true;
        }, true);"""
    )
    tab.goto(f"/uploads/{job_id}", timeout=90_000)
    play(tab)
    tab.wait_for_function("window.__stalled", timeout=120_000)
