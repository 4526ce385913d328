"""The site in a real browser (Debian's Chromium driven by Playwright), the way people use it: sign up
and sign in with the forms, drop files on the upload box or choose them, watch the list reach done,
open an upload's own page (renditions, the image or the playing video), delete it after confirming,
see why a refused upload was refused, and find no serious accessibility problem (axe-core) on any page,
at desktop and at phone width."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright

from infra.local.debian import chromium_path
from infra.local.stack import REPO_ROOT
from shared.events import new_id
from tests.api_client import TEST_PASSWORD
from tests.media_samples import image_bytes, truncated
from tests.system.conftest import Site, grant_operator
from tests.video_samples import video_bytes

AXE = REPO_ROOT / "services" / "frontend" / "static" / "vendor" / "axe" / "axe.min.js"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
DONE_WITHIN_MS = 90_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # Debian's Chromium, never a browser Playwright would download.
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def account(small_site: Site, browser: Browser) -> Iterator[tuple[BrowserContext, str]]:
    """A browser signed up through the form: its context (session cookie) and the username."""
    username = f"browser-{new_id()[:8]}"
    context = browser.new_context(base_url=small_site.stack.config.frontend_url, viewport=DESKTOP)
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(f"{small_site.stack.config.frontend_url}/login?next=/")
    page.get_by_role("link", name="Create one").click()
    page.get_by_label("Username", exact=True).fill(username)
    page.get_by_label("Email", exact=True).fill(f"{username}@example.org")
    page.locator("input[name=password]").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#who")).to_have_text(username)
    page.close()
    try:
        yield context, username
    finally:
        context.close()


@pytest.fixture
def page(account: tuple[BrowserContext, str]) -> Iterator[Page]:
    opened = account[0].new_page()
    try:
        yield opened
    finally:
        opened.close()


def axe_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    violations: list[dict[str, Any]] = page.evaluate("async () => (await axe.run(document)).violations")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]


def check_page(page: Page, name: str, tmp_path: Path) -> None:
    """No serious accessibility problem, and screenshots at desktop and phone width."""
    assert axe_problems(page) == [], f"{name}: accessibility violations"
    page.screenshot(path=str(tmp_path / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    too_wide = page.evaluate(
        """(width) => [...document.querySelectorAll("body *")]
            .filter((e) => e.getBoundingClientRect().right > width + 1)
            .map((e) => e.tagName + (e.id ? "#" + e.id : "") + "." + e.className)"""
        if page.evaluate("document.documentElement.scrollWidth") > PHONE["width"]
        else "() => []",
        PHONE["width"],
    )
    assert too_wide == [], f"{name}: scrolls sideways at phone width"
    assert axe_problems(page) == [], f"{name}: accessibility violations at phone width"
    page.screenshot(path=str(tmp_path / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def drop_file(page: Page, name: str, content_type: str, data: bytes) -> None:
    """A real drop on the drop zone: a DataTransfer built in the page, with dragenter, dragover, drop."""
    page.evaluate(
        """([name, type, b64]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type }));
            const zone = document.getElementById("drop-zone");
            for (const kind of ["dragenter", "dragover", "drop"]) {
                const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
                zone.dispatchEvent(new DragEvent(kind, init));
            }
        }""",
        [name, content_type, base64.b64encode(data).decode()],
    )


def job_item(page: Page, filename: str) -> Any:
    return page.locator("#jobs > li", has=page.locator(".filename", has_text=filename))


def test_sign_in_with_the_form(
    small_site: Site, browser: Browser, account: tuple[BrowserContext, str]
) -> None:
    _, username = account
    context = browser.new_context(base_url=small_site.stack.config.frontend_url)
    try:
        page = context.new_page()
        page.goto("/uploads/0123abcd")
        expect(page).to_have_url(f"{small_site.stack.config.frontend_url}/login?next=/uploads/0123abcd")
        page.goto("/profile")
        expect(page).to_have_url(f"{small_site.stack.config.frontend_url}/login?next=/profile")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(TEST_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text(f"{username}@example.org")).to_be_visible()
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(f"{small_site.stack.config.frontend_url}/login")
        page.goto("/")
        expect(page).to_have_url(f"{small_site.stack.config.frontend_url}/login?next=/")
    finally:
        context.close()


def test_drop_and_choose_files_then_the_list_reaches_done(page: Page, tmp_path: Path) -> None:
    page.goto("/")
    expect(page.locator("#empty")).to_contain_text("No uploads yet")
    check_page(page, "index-empty", tmp_path)
    drop_file(page, "dropped.png", "image/png", image_bytes(900, 600, "PNG"))
    chosen = tmp_path / "chosen.jpg"
    chosen.write_bytes(image_bytes(1600, 1000))
    page.set_input_files("#file-input", str(chosen))
    for name in ("dropped.png", "chosen.jpg"):
        item = job_item(page, name)
        expect(item.locator(".status")).to_have_text("done", timeout=DONE_WITHIN_MS)
        expect(item.locator(".thumb img")).to_have_count(1)
        # The line under the upload box follows the job too: it no longer says "queued".
        sent = page.locator(".sent-file", has_text=name)
        expect(sent.locator(".file-status")).to_contain_text("done")
    expect(page.locator("#empty")).to_be_hidden()
    # Client-side filters over the page.
    page.get_by_label("Kind").select_option("video")
    expect(page.locator("#jobs > li:visible")).to_have_count(0)
    expect(page.locator("#empty")).to_contain_text("match the filter")
    page.get_by_label("Kind").select_option("")
    page.get_by_label("Status").select_option("done")
    expect(page.locator("#jobs > li:visible")).to_have_count(2)
    check_page(page, "index", tmp_path)


def test_upload_page_shows_renditions_and_deletes_after_confirmation(
    small_site: Site, page: Page, tmp_path: Path
) -> None:
    page.goto("/")
    chosen = tmp_path / "to-delete.jpg"
    chosen.write_bytes(image_bytes(1200, 800))
    page.set_input_files("#file-input", str(chosen))
    item = job_item(page, "to-delete.jpg")
    expect(item.locator(".status")).to_have_text("done", timeout=DONE_WITHIN_MS)
    item.locator(".filename").click()
    expect(page).to_have_url(re.compile(r"/uploads/[0-9a-zA-Z_-]+$"))
    expect(page.get_by_role("heading", name="to-delete.jpg")).to_be_visible()
    expect(page.locator("#status")).to_have_text("done")
    expect(page.locator("#renditions tbody tr").first).to_be_visible()
    assert page.locator("#renditions tbody tr").count() >= 2
    expect(page.locator("#renditions tbody tr").first.get_by_role("link", name="Download")).to_have_count(1)
    expect(page.locator("#image")).to_be_visible()
    page.wait_for_function("document.getElementById('image').naturalWidth > 0")
    expect(page.locator("#facts")).to_contain_text("image/jpeg")
    check_page(page, "upload-image", tmp_path)
    job_id = page.locator("#upload").get_attribute("data-job-id")

    # Cancelling the confirmation keeps the upload; confirming deletes it.
    page.get_by_role("button", name="Delete…").click()
    dialog = page.locator("#confirm-delete")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#status")).to_have_text("done")
    page.get_by_role("button", name="Delete…").click()
    dialog.get_by_role("button", name="Delete for good").click()
    expect(page).to_have_url(f"{small_site.stack.config.frontend_url}/?deleted={job_id}")
    expect(job_item(page, "to-delete.jpg")).to_have_count(0)
    assert page.request.get(f"/api/jobs/{job_id}").status == 404
    assert page.request.get(f"/uploads/{job_id}").status == 404


def test_another_users_upload_page_is_not_found(small_site: Site, page: Page) -> None:
    theirs = small_site.upload_ok()
    response = page.goto(f"/uploads/{theirs}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="No such upload")).to_be_visible()
    assert axe_problems(page) == []


def test_a_video_plays_on_its_page(small_site: Site, page: Page, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(video_bytes(seconds=2.0, width=320, height=240))
    page.goto("/")
    page.set_input_files("#file-input", str(clip))
    sent = page.locator(".sent-file", has_text="clip.mp4")
    expect(sent.locator(".file-status")).to_have_text(re.compile("^(queued|processing|done)"), timeout=60_000)
    sent.get_by_role("link", name="open").click()
    expect(page.get_by_role("heading", name="clip.mp4")).to_be_visible()
    expect(page.locator("#status")).to_have_text("done", timeout=DONE_WITHIN_MS)
    expect(page.locator("#player")).to_be_visible()
    expect(page.locator("#renditions")).to_contain_text("hls")
    page.evaluate("() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }")
    page.wait_for_function("document.getElementById('player').currentTime > 0.3", timeout=30_000)
    check_page(page, "upload-video", tmp_path)


def test_a_refused_upload_shows_the_servers_reason(small_site: Site, page: Page, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"not a picture, not a film\n" * 20)
    expected = small_site.upload(notes.read_bytes(), "notes.txt", "text/plain")
    assert 400 <= expected.status_code < 500
    page.goto("/")
    page.set_input_files("#file-input", str(notes))
    sent = page.locator(".sent-file", has_text="notes.txt")
    expect(sent).to_have_class("sent-file refused")
    expect(sent.locator(".file-status")).to_have_text(f"refused: {expected.json()['detail']}")
    expect(sent.get_by_role("button", name="Try again")).to_be_hidden()


def test_a_busy_site_offers_to_try_again(page: Page, tmp_path: Path) -> None:
    """A 503 shows its reason and a button that sends the file again (the 503 is the browser's stand-in
    for an overloaded site; the second attempt reaches the real one)."""
    photo = tmp_path / "busy.jpg"
    photo.write_bytes(image_bytes(400, 300))
    page.goto("/")
    busy = {"detail": "the site is busy; please try again in a moment"}
    page.route("**/api/uploads", lambda route: route.fulfill(status=503, json=busy))
    page.set_input_files("#file-input", str(photo))
    sent = page.locator(".sent-file", has_text="busy.jpg")
    expect(sent.locator(".file-status")).to_have_text(f"refused: {busy['detail']}")
    page.unroute("**/api/uploads")
    sent.get_by_role("button", name="Try again").click()
    expect(sent.locator(".file-status")).to_contain_text("done", timeout=DONE_WITHIN_MS)


def test_every_page_is_accessible(small_site: Site, browser: Browser, page: Page, tmp_path: Path) -> None:
    for path, name in (("/profile", "profile"), ("/dashboard", "dashboard")):
        page.goto(path)
        if path == "/dashboard":
            page.wait_for_selector("#connection[data-state='live']", timeout=30_000)
        check_page(page, name, tmp_path)
    # The drop zone is a button the keyboard reaches.
    page.goto("/")
    page.locator("#drop-zone").focus()
    assert page.evaluate("document.activeElement.id") == "drop-zone"
    # Enter on it opens the file chooser: the hidden input is clicked (the test keeps the dialog shut).
    page.evaluate(
        """() => document.getElementById("file-input").addEventListener("click", (e) => {
            e.preventDefault();
            window.chooserOpened = true;
        })"""
    )
    page.keyboard.press("Enter")
    page.wait_for_function("window.chooserOpened === true", timeout=5_000)
    expect(page.get_by_role("button", name="Drop an image or a video here or choose a file")).to_be_visible()
    anonymous = browser.new_context(base_url=small_site.stack.config.frontend_url, viewport=DESKTOP)
    try:
        signed_out = anonymous.new_page()
        for path, name in (("/login", "login"), ("/register", "register")):
            signed_out.goto(path)
            check_page(signed_out, name, tmp_path)
    finally:
        anonymous.close()


def test_a_failed_upload_offers_retry_which_opens_the_new_job(page: Page, tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(truncated(image_bytes(900, 700, "PNG")))  # passes the upload check, fails to decode
    page.goto("/")
    page.set_input_files("#file-input", str(broken))
    item = job_item(page, "broken.png")
    expect(item.locator(".status")).to_have_text("failed", timeout=DONE_WITHIN_MS)
    item.locator(".filename").click()
    expect(page.get_by_role("heading", name="broken.png")).to_be_visible()
    failed_id = page.locator("#upload").get_attribute("data-job-id")
    expect(page.locator("#status")).to_have_text("failed")
    check_page(page, "upload-failed", tmp_path)
    page.get_by_role("button", name="Retry").click()
    # The retry is a new job of its own, re-encoding the same original: its page opens.
    expect(page).not_to_have_url(re.compile(f"/uploads/{failed_id}$"))
    expect(page).to_have_url(re.compile(r"/uploads/[0-9a-zA-Z_-]+$"))
    expect(page.get_by_role("heading", name="broken.png")).to_be_visible()
    expect(page.locator("#status")).to_have_text(
        re.compile("^(queued|processing|failed)$"), timeout=DONE_WITHIN_MS
    )


def test_the_monitoring_page_shows_live_status_to_an_operator(
    small_site: Site, account: tuple[BrowserContext, str], page: Page, tmp_path: Path
) -> None:
    grant_operator(small_site.stack, account[1])
    page.goto("/monitoring")
    expect(page.locator("#services tbody tr").first).to_be_visible(timeout=60_000)
    expect(page.locator("#services")).to_contain_text("frontend")
    expect(page.locator("#topics tbody tr").first).to_be_visible(timeout=60_000)
    check_page(page, "monitoring", tmp_path)
