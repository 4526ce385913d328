"""Direct, resumable uploads in a real browser (Debian's Chromium): a large file dropped on the page goes
straight to MinIO in parts (Uppy, static/direct-upload.js); the network drops mid-way and comes back,
and only the parts storage did not hold yet are sent again; a reload mid-upload resumes it the same way
(Golden Retriever keeps the file in IndexedDB). Each ends with a job done whose video plays on its page.
"""

from __future__ import annotations

import base64
import re
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Route, expect

from tests.system.test_browser import (  # noqa: F401 (the signed-up browser's fixtures)
    DONE_WITHIN_MS,
    account,
    browser,
    job_item,
)
from tests.video_samples import video_bytes

MIB = 1024 * 1024
#: The issue's 200 MB file: 24 parts of 8 MiB (the page's part size), four in flight at a time.
SIZE = 200 * 1000 * 1000
PART = 8 * MIB
PART_URL = re.compile(r".*[?&]partNumber=(\d+).*")


@pytest.fixture
def tab(account: tuple[BrowserContext, str]) -> Iterator[Page]:  # noqa: F811
    opened = account[0].new_page()
    try:
        yield opened
    finally:
        opened.context.set_offline(False)
        opened.close()


def padded_video(size: int) -> bytes:
    """The start of a `size`-byte MP4: a short real video, then the header of a `free` box (which
    players skip) whose zeros the page adds, so 200 MB never cross the test's bridge to the page."""
    movie = video_bytes(seconds=2.0, width=160, height=120, audio=False)
    return movie + struct.pack(">I4s", size - len(movie), b"free")


def drop_large_file(tab: Page, name: str, head: bytes, size: int) -> None:
    """A real drop of a `size`-byte video made in the page: `head` followed by zeros."""
    tab.evaluate(
        """([name, b64, size]) => {
            const head = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const file = new File([head, new Uint8Array(size - head.length)], name, { type: "video/mp4" });
            const transfer = new DataTransfer();
            transfer.items.add(file);
            const zone = document.getElementById("drop-zone");
            for (const kind of ["dragenter", "dragover", "drop"]) {
                const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
                zone.dispatchEvent(new DragEvent(kind, init));
            }
        }""",
        [name, base64.b64encode(head).decode(), size],
    )


def progress(tab: Page) -> float:
    value: float = tab.eval_on_selector("#upload-progress", "bar => bar.value")
    return value


def wait_for_progress_past(tab: Page, fraction: float) -> None:
    tab.wait_for_function(
        "(fraction) => document.getElementById('upload-progress').value > fraction", arg=fraction
    )


def plays_on_its_page(tab: Page, filename: str) -> None:
    item = job_item(tab, filename)
    expect(item.locator(".status")).to_have_text("done", timeout=DONE_WITHIN_MS)
    item.locator(".filename").click()
    expect(tab.get_by_role("heading", name=filename)).to_be_visible()
    expect(tab.locator("#player")).to_be_visible()
    tab.evaluate("() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }")
    tab.wait_for_function("document.getElementById('player').currentTime > 0.3", timeout=30_000)


#: True once Golden Retriever holds what a reload needs: the file's bytes in IndexedDB and the
#: upload's id (Uppy's s3Multipart state) in localStorage.
KEPT_FOR_A_RELOAD = """async () => {
    const state = localStorage.getItem("uppyState:reencode-direct") || "";
    if (!state.includes("uploadId")) return false;
    const db = await new Promise((resolve, reject) => {
        const opening = indexedDB.open("uppy-blobs");
        opening.onsuccess = () => resolve(opening.result);
        opening.onerror = reject;
    });
    try {
        if (!db.objectStoreNames.contains("files")) return false;
        const counting = db.transaction("files").objectStore("files").count();
        return await new Promise((resolve) => { counting.onsuccess = () => resolve(counting.result > 0); });
    } finally {
        db.close();
    }
}"""


def part_number(url: str) -> int:
    matched = PART_URL.match(url)
    assert matched is not None
    return int(matched.group(1))


def test_a_large_drop_survives_going_offline_and_sends_only_the_missing_parts(tab: Page) -> None:
    stored_before: set[int] = set()
    stored_after: set[int] = set()
    cut = {"done": False}

    def on_response(response: Any) -> None:
        if response.request.method == "PUT" and PART_URL.match(response.url) and response.status == 200:
            (stored_after if cut["done"] else stored_before).add(part_number(response.url))

    def on_part(route: Route) -> None:
        # Once two parts are stored, the network goes away under the next one.
        if not cut["done"] and len(stored_before) >= 2:
            cut["done"] = True
            tab.context.set_offline(True)
            route.abort("internetdisconnected")
            return
        route.continue_()

    tab.on("response", on_response)
    tab.route(PART_URL, on_part)
    tab.goto("/")
    expect(tab.locator("#who")).not_to_have_text("Profile")
    drop_large_file(tab, "large.mp4", padded_video(SIZE), SIZE)
    expect(tab.locator("#upload-progress")).to_be_visible()
    tab.wait_for_function("() => !navigator.onLine", timeout=60_000)
    sent_before_the_cut = progress(tab)
    assert sent_before_the_cut > 0
    tab.context.set_offline(False)
    wait_for_progress_past(tab, sent_before_the_cut)

    item = job_item(tab, "large.mp4")
    expect(item.locator(".status")).to_have_text("done", timeout=DONE_WITHIN_MS)
    parts = -(-SIZE // PART)
    assert stored_before | stored_after == set(range(1, parts + 1))
    # What storage held before the cut was not sent again: fewer bytes than the file after it.
    assert len(stored_before) >= 2
    assert not stored_before & stored_after, (stored_before, stored_after)
    assert len(stored_after) * PART < SIZE
    plays_on_its_page(tab, "large.mp4")


def test_a_reload_mid_upload_resumes_it_without_sending_the_stored_parts_again(tab: Page) -> None:
    stored_before: set[int] = set()
    stored_after: set[int] = set()
    phase = {"cut": False, "reloaded": False}

    def on_response(response: Any) -> None:
        if response.request.method == "PUT" and PART_URL.match(response.url) and response.status == 200:
            (stored_after if phase["reloaded"] else stored_before).add(part_number(response.url))

    def on_part(route: Route) -> None:
        # Once two parts are stored, no other part gets through until the page is reloaded.
        if phase["cut"] and not phase["reloaded"]:
            route.abort("internetdisconnected")
            return
        if not phase["reloaded"] and len(stored_before) >= 2:
            phase["cut"] = True
            tab.context.set_offline(True)
            route.abort("internetdisconnected")
            return
        route.continue_()

    tab.on("response", on_response)
    tab.route(PART_URL, on_part)
    tab.goto("/")
    expect(tab.locator("#who")).not_to_have_text("Profile")
    drop_large_file(tab, "reloaded.mp4", padded_video(SIZE), SIZE)
    tab.wait_for_function("() => !navigator.onLine", timeout=60_000)
    tab.wait_for_function(KEPT_FOR_A_RELOAD, timeout=60_000)
    tab.context.set_offline(False)
    phase["reloaded"] = True
    tab.reload()

    plays_on_its_page(tab, "reloaded.mp4")
    assert len(stored_before) >= 2
    # Only what storage lacked was sent after the reload: fewer bytes than the file.
    assert not stored_before & stored_after, (stored_before, stored_after)
    assert len(stored_after) * PART < SIZE
