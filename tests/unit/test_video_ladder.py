"""Planning a video's outputs: never upscaled, aspect kept, even sizes, and tasks spread over workers."""

from __future__ import annotations

import pytest

from services.reencoder.video.ladder import plan_ladder, plan_preview, task_weights
from services.reencoder.video.partitioning import partition_of, spread_keys


def sizes(width: int, height: int) -> dict[str, tuple[int, int]]:
    return {o.name: (o.width, o.height) for o in plan_ladder(width, height)}


def test_full_hd_gets_the_whole_ladder() -> None:
    assert sizes(1920, 1080) == {"360p": (640, 360), "720p": (1280, 720), "1080p": (1920, 1080)}


def test_4k_stops_at_1080p_and_720p_source_is_never_upscaled() -> None:
    assert max(sizes(3840, 2160).values()) == (1920, 1080)
    assert sizes(1280, 720) == {"360p": (640, 360), "720p": (1280, 720)}


def test_vertical_video_is_named_by_its_short_edge() -> None:
    assert sizes(1080, 1920) == {"360p": (360, 640), "720p": (720, 1280), "1080p": (1080, 1920)}


def test_small_and_odd_sources_get_one_even_rendition_at_their_size() -> None:
    assert sizes(320, 240) == {"240p": (320, 240)}
    assert sizes(321, 241) == {"240p": (320, 240)}
    assert sizes(3, 3) == {"4p": (4, 4)}


@pytest.mark.parametrize(("width", "height"), [(1918, 1080), (1440, 1080), (2560, 1080), (853, 480)])
def test_every_size_is_even_and_keeps_the_aspect_ratio(width: int, height: int) -> None:
    for output in plan_ladder(width, height):
        assert output.width % 2 == 0
        assert output.height % 2 == 0
        assert output.width / output.height == pytest.approx(width / height, rel=0.01)


def test_preview_fits_1280_and_weights_add_up_to_one() -> None:
    preview = plan_preview(1080, 1920)
    assert (preview.width, preview.height) == (720, 1280)
    weights = task_weights(plan_ladder(1920, 1080), preview)
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights["1080p"] > weights["720p"] > weights["360p"]


def test_a_jobs_tasks_land_on_consecutive_partitions() -> None:
    for job_id in ("a", "b" * 32, "0123456789abcdef"):
        partitions = [partition_of(key, 12) for key in spread_keys(job_id, 4, 12)]
        first = partitions[0]
        assert partitions == [(first + i) % 12 for i in range(4)]
