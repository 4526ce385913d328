"""A video job's tasks from its ffprobe report: chunks for every rung, audio, previews, assemblies."""

from __future__ import annotations

from typing import Any

import pytest

from services.reencoder.video.planner import plan_tasks, playable_first
from services.reencoder.video.probe import parse_probe
from shared.events import VideoTaskKind, VideoTaskRequested
from tests.video_samples import video_job

JOB = video_job()


def report(duration: str = "30", audio: bool = True, **video: Any) -> dict[str, Any]:
    stream = {
        "codec_type": "video",
        "codec_name": "h264",
        "width": 1280,
        "height": 720,
        "avg_frame_rate": "25/1",
    }
    stream.update(video)
    streams = [stream, {"codec_type": "audio", "codec_name": "aac"}] if audio else [stream]
    return {"streams": streams, "format": {"duration": duration}}


def plan(
    report: dict[str, Any], chunk_s: int = 5, segment_s: int = 5
) -> tuple[list[VideoTaskRequested], ...]:
    return plan_tasks(JOB, parse_probe(report), chunk_s=chunk_s, segment_s=segment_s)


def chunks(tasks: list[VideoTaskRequested]) -> list[VideoTaskRequested]:
    return [t for t in tasks if t.kind == VideoTaskKind.CHUNK]


def test_thirty_seconds_in_five_second_chunks() -> None:
    now, later = plan(report())
    planned = chunks(now)
    assert [(c.chunk, c.start_s, c.length_s, c.first_segment) for c in planned] == [
        (i, 5.0 * i, 5.0, i) for i in range(6)
    ]
    assert {t.task_id for t in now} - {c.task_id for c in planned} == {"audio", "preview"}
    assert [t.task_id for t in later] == ["mp4-360p", "mp4-720p"]
    # Every chunk encodes every rung; the weights (the progress shares) add up to the whole job.
    assert all([o.name for o in c.outputs] == ["360p", "720p"] for c in planned)
    assert sum(t.weight for t in (*now, *later)) == pytest.approx(1.0)
    # Each task on its own partition, so that the workers share them.
    assert len({t.partition_key for t in (*now, *later)}) == len(now) + len(later)


def test_a_duration_that_is_not_a_multiple_of_the_chunk_ends_with_a_short_chunk() -> None:
    planned = chunks(plan(report(duration="12.4"), chunk_s=4, segment_s=2)[0])
    assert [(c.start_s, c.first_segment) for c in planned] == [(0.0, 0), (4.0, 2), (8.0, 4)]
    assert planned[-1].length_s == pytest.approx(4.4)  # the 0.4 s tail joined the chunk before
    assert sum(c.length_s for c in planned) == pytest.approx(12.4)


def test_odd_sizes_get_even_rungs_in_every_chunk() -> None:
    planned = chunks(plan(report(width=321, height=241))[0])
    assert {(o.width, o.height) for c in planned for o in c.outputs} == {(320, 240)}


def test_a_rotated_phone_video_is_planned_portrait() -> None:
    rotated = report(
        width=1280, height=720, side_data_list=[{"side_data_type": "Display Matrix", "rotation": 90}]
    )
    outputs = chunks(plan(rotated)[0])[0].outputs
    assert [(o.width, o.height) for o in outputs] == [(360, 640), (720, 1280)]


def test_variable_frame_rate_chunks_carry_the_real_base_rate() -> None:
    planned = chunks(plan(report(avg_frame_rate="0/0", r_frame_rate="30/1"))[0])
    assert {c.frame_rate for c in planned} == {30.0}


def test_no_audio_means_no_audio_task_and_chunks_take_its_share() -> None:
    now, later = plan(report(audio=False))
    assert all(not t.has_audio for t in (*now, *later))
    assert "audio" not in {t.task_id for t in now}
    assert sum(t.weight for t in (*now, *later)) == pytest.approx(1.0)


def test_a_clip_shorter_than_a_chunk_is_one_chunk() -> None:
    planned = chunks(plan(report(duration="1.5"))[0])
    assert [(c.start_s, c.length_s) for c in planned] == [(0.0, 1.5)]


def test_the_first_chunk_and_the_audio_go_first() -> None:
    """A worker takes tasks from its partitions in no particular order: the rest wait for these."""
    assert playable_first(plan(report())[0]) == ("chunk-00000", "audio")
    assert playable_first(plan(report(audio=False))[0]) == ("chunk-00000",)
    # On neighbouring partitions: consumer groups hand those to different workers.
    now, _later = plan(report())
    assert [t.task_id for t in now[:2]] == ["chunk-00000", "audio"]
