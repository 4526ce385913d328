"""The live dashboard in a real browser (Debian's Chromium driven by Playwright) shows live figures."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import sync_playwright

from infra.local.debian import chromium_path
from infra.local.stack import REPO_ROOT
from shared.events import new_id
from tests.api_client import TEST_PASSWORD
from tests.system.conftest import Site

#: Where the screenshot is kept for people to look at (under the ignored state folder).
SCREENSHOT = REPO_ROOT / ".state" / "screenshots" / "dashboard.png"


def test_dashboard_charts_live_traffic_jobs_and_workers(small_site: Site, tmp_path: Path) -> None:
    job_id = small_site.upload_ok()
    assert small_site.wait_for(job_id)["status"] == "done"
    browser_path = chromium_path()
    with sync_playwright() as playwright:
        # Debian's Chromium, never a browser Playwright would download.
        browser = playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            # Signed in through the form: only signed-in users' clicks are counted.
            username = f"dash-{new_id()[:8]}"
            page.goto(f"{small_site.stack.config.frontend_url}/register")
            page.get_by_label("Username", exact=True).fill(username)
            page.get_by_label("Email", exact=True).fill(f"{username}@example.org")
            page.locator("input[name=password]").fill(TEST_PASSWORD)
            page.get_by_role("button", name="Create account").click()
            page.wait_for_selector("#who")
            page.goto(f"{small_site.stack.config.frontend_url}/dashboard")
            page.wait_for_selector("#connection[data-state='live']", timeout=30_000)
            # Traffic while the page watches: the page's own requests and these.
            for _ in range(25):
                small_site.http.get("/api/jobs")
            page.wait_for_function(
                "Number(document.body.dataset.updates) >= 5"
                " && document.querySelector('#kpi-rate').textContent !== '0.0'"
                " && document.querySelectorAll('#routes tbody tr').length > 0"
                " && document.querySelectorAll('#workers tbody tr').length > 0",
                timeout=60_000,
            )
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            # Six uPlot charts drew onto canvases.
            assert page.locator(".chart canvas").count() >= 6
            routes = page.locator("#routes tbody").inner_text()
            assert "GET /api/jobs" in routes
            assert page.locator("#kpi-rate").inner_text() not in ("\u2013", "0.0")
            assert page.locator("#kpi-p95").inner_text().endswith("ms")
            # A click on a tracked link is reported to the metrics service.
            page.click("a[href='/api/metrics/summary']")
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000

    def clicked(summary: dict[str, object]) -> bool:
        links = summary["windows"]["300s"]["top_links"]  # type: ignore[index]
        return any(link["link"] == "/api/metrics/summary" for link in links)

    from tests.system.test_metrics import summary_when

    summary_when(small_site.http, clicked)
