"""Recognising video uploads, aggregating task progress and estimating the time left."""

from __future__ import annotations

import pytest

from services.frontend.consumers.video_progress import job_progress
from services.frontend.eta import EtaEstimator
from shared.media import sniff_video
from tests.media_samples import image_bytes
from tests.video_samples import video_bytes


@pytest.mark.parametrize(
    ("container", "content_type"),
    [
        ("mp4", "video/mp4"),
        ("mov", "video/quicktime"),
        ("mkv", "video/x-matroska"),
        ("webm", "video/webm"),
        ("avi", "video/x-msvideo"),
    ],
)
def test_video_containers_are_recognised_from_their_first_bytes(container: str, content_type: str) -> None:
    assert (
        sniff_video(video_bytes(seconds=0.2, width=64, height=64, container=container)[:64]) == content_type
    )


def test_images_and_text_are_not_videos() -> None:
    assert sniff_video(b"\xff\xd8\xff\xe0\x00\x10JFIF") is None
    assert sniff_video(b"\x89PNG\r\n\x1a\n") is None
    assert sniff_video(b"RIFF\x00\x00\x00\x00WEBPVP8 ") is None
    assert sniff_video(b"") is None
    assert sniff_video(image_bytes(64, 64, "AVIF")[:64]) is None  # ISO boxes too, but a picture


def test_job_progress_weighs_its_tasks_and_stops_short_of_done() -> None:
    assert job_progress({"360p": (0.2, 1.0), "720p": (0.75, 0.5)}) == pytest.approx(0.575)
    assert job_progress({"360p": (0.5, 1.0), "720p": (0.5, 1.0)}) == 0.99


def test_eta_follows_the_rate_of_progress() -> None:
    now = [100.0]
    eta = EtaEstimator(lambda: now[0])
    assert eta.update(0.0) is None
    assert eta.update(0.1) is None  # the first movement only starts the clock
    now[0] = 110.0
    assert eta.update(0.3) == 35  # 0.2 in 10 s: 0.7 left takes 35 s
    assert eta.update(1.0) is None
