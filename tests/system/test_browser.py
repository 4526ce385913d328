"""The site in a real browser (Debian's Chromium driven by Playwright): sign up, upload, see the
renditions, sign out, and be sent back to sign in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from infra.local.debian import chromium_path
from shared.events import new_id
from tests.api_client import TEST_PASSWORD
from tests.media_samples import image_bytes
from tests.system.conftest import Site


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


def test_sign_up_upload_and_sign_out(site: Site, browser: Browser, tmp_path: Path) -> None:
    username = f"browser-{new_id()[:8]}"
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(image_bytes(1600, 1000))
    page = browser.new_page(base_url=site.stack.config.frontend_url)
    try:
        page.goto("/")
        expect(page).to_have_url(f"{site.stack.config.frontend_url}/login?next=/")
        page.get_by_role("link", name="Create one").click()
        page.get_by_label("Username", exact=True).fill(username)
        page.get_by_label("Email", exact=True).fill(f"{username}@example.org")
        page.locator("input[name=password]").fill(TEST_PASSWORD)
        page.get_by_role("button", name="Create account").click()

        expect(page.locator("#who")).to_have_text(username)
        page.set_input_files("#file-input", str(photo))
        job = page.locator("#jobs > li").first
        expect(job.locator(".filename")).to_have_text("holiday.jpg")
        expect(job.locator(".status")).to_have_text("done", timeout=60_000)
        expect(job.locator(".renditions img")).to_have_count(1)
        page.screenshot(path=str(tmp_path / "upload-page.png"))

        page.goto("/profile")
        expect(page.get_by_text(f"{username}@example.org")).to_be_visible()
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(f"{site.stack.config.frontend_url}/login")
        page.goto("/")
        expect(page).to_have_url(f"{site.stack.config.frontend_url}/login?next=/")
    finally:
        page.close()
