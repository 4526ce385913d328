"""The chaos run's pure checks: what counts as one set of renditions, and where poison must go."""

from __future__ import annotations

from infra.chaos.faults import consumed_in_groups
from infra.chaos.invariants import Findings, rendition_set_problems
from shared.database import RenditionRow

JOB = "a" * 32


def rendition(name: str, key: str) -> RenditionRow:
    return RenditionRow(job_id=JOB, name=name, content_type="image/webp", width=1, height=1, bytes=1, key=key)


IMAGE = [rendition(name, f"{JOB}/{name}.webp") for name in ("thumbnail", "medium", "large")]


def test_an_image_job_with_its_renditions_and_manifest_is_one_set() -> None:
    stored = {r.key for r in IMAGE} | {f"{JOB}/manifest.json"}
    assert rendition_set_problems(JOB, IMAGE, stored) == ([], [])


def test_an_object_beyond_the_listed_renditions_is_stray() -> None:
    stored = {r.key for r in IMAGE} | {f"{JOB}/manifest.json", f"{JOB}/large-2.webp", f"{JOB}/failed.json"}
    assert rendition_set_problems(JOB, IMAGE, stored) == ([f"{JOB}/failed.json", f"{JOB}/large-2.webp"], [])


def test_a_listed_rendition_missing_from_storage_is_reported() -> None:
    stored = {IMAGE[0].key, IMAGE[1].key}
    assert rendition_set_problems(JOB, IMAGE, stored) == ([], [IMAGE[2].key])


def test_a_video_job_may_keep_its_plan_task_markers_and_hls_files() -> None:
    video = [
        rendition("360p", f"{JOB}/video/360p.mp4"),
        rendition("poster", f"{JOB}/poster.jpg"),
        rendition("hls", f"{JOB}/hls/master.m3u8"),
    ]
    stored = {r.key for r in video} | {
        f"{JOB}/plan.json",
        f"{JOB}/manifest.json",
        f"{JOB}/rest-published.json",
        f"{JOB}/tasks/chunk-00000.json",
        f"{JOB}/hls/360p/index.m3u8",
        f"{JOB}/hls/360p/init.mp4",
        f"{JOB}/hls/360p/seg_00000.m4s",
        # The audio rendition's package, in the master's audio group (not a listed rendition).
        f"{JOB}/hls/audio/index.m3u8",
        f"{JOB}/hls/audio/seg_00000.m4s",
    }
    assert rendition_set_problems(JOB, video, stored) == ([], [])
    # HLS files of a variant the job does not list are a leftover.
    assert rendition_set_problems(JOB, video, stored | {f"{JOB}/hls/720p/index.m3u8"})[0] == [
        f"{JOB}/hls/720p/index.m3u8"
    ]


def test_poison_goes_to_every_topic_the_frontend_and_workers_consume_in_a_group() -> None:
    assert consumed_in_groups() == {
        "jobs.status": ("frontend.job-status",),
        "video.progress": ("frontend.job-progress",),
        "jobs.requested": ("reencoder",),
        "video.tasks": ("reencoder.video-tasks",),
        "video.tasks.finished": ("reencoder.video-completion",),
        "storage.events": ("frontend.stored-originals",),
    }


def test_findings_hold_only_without_any_violation() -> None:
    assert Findings(accepted=3, done=3).holds
    broken = Findings(accepted=3, done=2, stuck={"j": "processing"}, orphans=["o"])
    assert not broken.holds
    assert broken.broken() == ["stuck", "orphan originals"]
    assert broken.violations() == ["1 stuck: ('j', 'processing')", "1 orphan originals: o"]
