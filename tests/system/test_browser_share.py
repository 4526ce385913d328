"""In a real browser (Debian's Chromium): an upload's progress bar moves while a video encodes, and a
share link made on the upload's page opens the player for a visitor with no account (a fresh browser
context: no cookie), until the link is revoked."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.system.conftest import Site
from tests.system.test_browser import DESKTOP, DONE_WITHIN_MS, account, browser, check_page, page
from tests.video_samples import video_bytes

__all__ = ["account", "browser", "page"]  # the module's fixtures, shared with test_browser.py

#: Installed before the page's own scripts: every value the progress bar takes, in order.
RECORD_PROGRESS = """
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.getElementById("progress");
  if (!bar) return;
  window.progressSeen = [Number(bar.getAttribute("aria-valuenow") ?? bar.value)];
  const record = () => window.progressSeen.push(Number(bar.getAttribute("aria-valuenow") ?? bar.value));
  const watched = { attributes: true, attributeFilter: ["value", "aria-valuenow"] };
  new MutationObserver(record).observe(bar, watched);
});
"""


def open_new_upload(page: Page, clip: Path) -> str:
    """Send `clip` from the upload box and open its page as soon as it is accepted; its job id."""
    page.goto("/")
    page.set_input_files("#file-input", str(clip))
    sent = page.locator(".sent-file", has_text=clip.name)
    expect(sent.get_by_role("link", name="open")).to_be_visible(timeout=60_000)
    sent.get_by_role("link", name="open").click()
    expect(page.get_by_role("heading", name=clip.name)).to_be_visible()
    job_id: str = page.locator("#upload").get_attribute("data-job-id") or ""
    assert job_id
    return job_id


def test_the_progress_bar_moves_while_a_video_encodes(page: Page) -> None:
    # Sent with the browser's own session (the upload box's way for large files is its own test):
    # the page under test is the upload's page, opened at once.
    page.goto("/")
    csrf = page.request.get("/api/auth/me").json()["csrf_token"]
    sent = page.request.post(
        "/api/uploads",
        headers={"X-CSRF-Token": csrf},
        multipart={
            "file": {
                "name": "long-clip.mp4",
                "mimeType": "video/mp4",
                "buffer": video_bytes(seconds=12.0, width=1280, height=720),
            }
        },
    )
    assert sent.status == 202, sent.text()
    page.add_init_script(RECORD_PROGRESS)
    page.goto(f"/uploads/{sent.json()['job_id']}")
    expect(page.locator("#status")).to_have_text("done", timeout=DONE_WITHIN_MS * 2)
    seen: list[float] = page.evaluate("window.progressSeen")
    moving = [value for value in seen if 0 < value < 1]
    assert len(moving) >= 2, f"the bar took these values: {seen}"
    assert moving == sorted(moving), f"the bar went back: {seen}"
    assert moving[-1] > moving[0], f"the bar did not advance: {seen}"


def test_a_share_link_plays_for_a_visitor_without_an_account_until_revoked(
    small_site: Site, browser: Browser, page: Page, tmp_path: Path
) -> None:
    clip = tmp_path / "shared-clip.mp4"
    clip.write_bytes(video_bytes(seconds=2.0, width=320, height=240))
    open_new_upload(page, clip)
    expect(page.locator("#status")).to_have_text("done", timeout=DONE_WITHIN_MS)
    expect(page.locator("#no-shares")).to_be_visible()
    page.get_by_label("Link works for").select_option("3600")
    page.get_by_role("button", name="Make a link").click()
    link = page.locator("#share-url")
    expect(link).to_be_visible()
    url = link.input_value()
    assert re.fullmatch(rf"{re.escape(small_site.stack.config.frontend_url)}/s/[A-Za-z0-9_-]{{20,}}", url), (
        url
    )
    expect(page.locator("#share-list > li")).to_have_count(1)
    check_page(page, "upload-with-share", tmp_path)

    visitor = browser.new_context(viewport=DESKTOP)  # no session cookie: a stranger's browser
    try:
        shared = visitor.new_page()
        shared.goto(url)
        expect(shared.get_by_role("heading", name="shared-clip.mp4")).to_be_visible()
        expect(shared.locator("#renditions")).to_contain_text("hls")
        # The player has read the playlists and the first segment's metadata (through the link only).
        shared.wait_for_function("document.getElementById('player').readyState >= 1", timeout=30_000)
        shared.evaluate(
            "() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }"
        )
        shared.wait_for_function("document.getElementById('player').currentTime > 0.3", timeout=30_000)
        check_page(shared, "shared-video", tmp_path)

        page.get_by_role("button", name=re.compile("^Revoke")).click()
        expect(page.locator("#no-shares")).to_be_visible()
        assert shared.goto(url) is not None
        expect(shared.get_by_role("heading", name="This link does not work")).to_be_visible()
    finally:
        visitor.close()
    page.goto("/profile")
    expect(page.locator("#no-shares")).to_be_visible()
