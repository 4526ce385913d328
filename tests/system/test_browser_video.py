"""A video plays on its page in Chromium before its job is done (issue #14): the page's player starts
as soon as the master playlist exists and plays the chunks packaged so far, while the last chunk's
encode is held back; then the storyboard under the player shows hover previews from the sprite."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from infra.local.stack import LocalStack
from services.reencoder.main import TASKS
from tests.system.conftest import Site, start_site
from tests.system.test_browser import DONE_WITHIN_MS, account, browser, page
from tests.video_samples import ffmpeg_binary, video_bytes

__all__ = ["account", "browser", "page"]  # the browser fixtures, shared with test_browser.py

#: Chunks of 4 s in segments of 2 s (the first one too), so a 12 s clip makes three chunks.
CHUNKS = {"VIDEO_CHUNK_S": "4", "VIDEO_HLS_SEGMENT_S": "2", "VIDEO_FIRST_CHUNK_SEGMENTS": "2"}
#: The last chunk's encode (it starts 8 s in) waits while this file exists.
HELD_CHUNK = "-ss 8.000"


@pytest.fixture(scope="module")
def hold(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hold") / "held"


@pytest.fixture(scope="module")
def small_site(stack: LocalStack, hold: Path) -> Iterator[Site]:
    """Every service and two workers whose ffmpeg waits, before encoding the last chunk of a 12 s
    clip, until `hold` is removed (the site the browser fixtures of test_browser.py sign up on). A
    worker takes one task at a time: the one holding the last chunk, the other does the rest."""
    wrapper = hold.with_name("ffmpeg")
    wrapper.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *"{HELD_CHUNK}"*) while [ -e {hold} ]; do sleep 0.2; done;; esac\n'
        f'exec {ffmpeg_binary()} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    saved = dict(stack.config.service_env)
    stack.config.service_env.update({**CHUNKS, "VIDEO_FFMPEG_BINARY": str(wrapper)})
    running = start_site(stack, reencoders=2)
    try:
        assert TASKS.group is not None
        running.wait_for_group(TASKS.group, members=2)
        yield running
    finally:
        running.http.close()
        stack.stop_services()
        stack.config.service_env = saved


def test_the_player_starts_before_the_job_is_done(page: Page, hold: Path, tmp_path: Path) -> None:
    hold.write_text("held")
    clip = tmp_path / "long.mp4"
    clip.write_bytes(video_bytes(seconds=12, width=640, height=360))
    try:
        page.goto("/")
        page.set_input_files("#file-input", str(clip))
        page.locator(".sent-file", has_text="long.mp4").get_by_role("link", name="open").click()
        expect(page.get_by_role("heading", name="long.mp4")).to_be_visible()
        player = page.locator("#player")
        expect(player).to_be_visible(timeout=DONE_WITHIN_MS)
        # The first chunk made the poster: the player shows it before the job is done.
        expect(player).to_have_attribute("poster", re.compile(r"/poster$"))
        page.evaluate(
            "() => { const v = document.getElementById('player'); v.muted = true; return v.play(); }"
        )
        # Playing: its time moves on from where it started, while the job still runs.
        start = page.evaluate("document.getElementById('player').currentTime")
        page.wait_for_function(
            f"document.getElementById('player').currentTime > {start} + 0.5", timeout=60_000
        )
        expect(page.locator("#status")).to_have_text("processing")
    finally:
        hold.unlink()
    expect(page.locator("#status")).to_have_text("done", timeout=DONE_WITHIN_MS)
    # Hover previews: the storyboard's tiles of the sprite over a timeline under the player.
    timeline = page.locator("#storyboard")
    expect(timeline).to_be_visible(timeout=30_000)
    box = timeline.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.95, box["y"] + box["height"] / 2)
    thumb = timeline.locator(".storyboard-thumb")
    expect(thumb).to_be_visible()
    expect(thumb).to_have_attribute("data-tile", "640,90,160,90")  # the last tile of the 5x2 sprite
