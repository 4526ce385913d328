"""Object keys of a video job in the renditions bucket: derived from the job and the output only.

Deterministic keys make every step idempotent: a redelivered task overwrites its own outputs instead
of adding a second set, and a marker written last says a step is complete.
"""

from __future__ import annotations


def plan_key(job_id: str) -> str:
    return f"{job_id}/plan.json"


def task_marker_key(job_id: str, task_id: str) -> str:
    """Written last by a task: its presence means the task's outputs are all stored."""
    return f"{job_id}/tasks/{task_id}.json"


def failed_marker_key(job_id: str) -> str:
    """Written when a job fails, so late or redelivered tasks of it do no work."""
    return f"{job_id}/failed.json"


def mp4_key(job_id: str, name: str) -> str:
    return f"{job_id}/video/{name}.mp4"


def hls_prefix(job_id: str, name: str) -> str:
    return f"{job_id}/hls/{name}/"


def master_playlist_key(job_id: str) -> str:
    return f"{job_id}/hls/master.m3u8"


def poster_key(job_id: str) -> str:
    return f"{job_id}/poster.jpg"


def sprite_key(job_id: str) -> str:
    return f"{job_id}/sprite.jpg"


def storyboard_key(job_id: str) -> str:
    """The WebVTT thumbnails track over the sprite (`sprite.jpg` beside it)."""
    return f"{job_id}/storyboard.vtt"


def hls_file_key(job_id: str, name: str, file: str) -> str:
    """One file of a variant (or of the audio rendition): `index.m3u8`, `init.mp4`, `seg_NNNNN.m4s`."""
    return f"{hls_prefix(job_id, name)}{file}"


def segment_file(number: int) -> str:
    """The name of the segment numbered `number` over the whole video (the same in every rung)."""
    return f"seg_{number:05d}.m4s"


def tasks_prefix(job_id: str) -> str:
    return f"{job_id}/tasks/"


def rest_published_key(job_id: str) -> str:
    """Written once the tasks after the first ones (`JobPlan.first`) are published."""
    return f"{job_id}/rest-published.json"


def thumbnails_prefix(job_id: str) -> str:
    """The sprite's thumbnails the chunk tasks leave for the preview task (removed once the job is done)."""
    return f"{job_id}/previews/"


def thumbnail_key(job_id: str, index: int) -> str:
    """The sprite's thumbnail number `index` (0 first, row by row), taken at index * duration / count."""
    return f"{thumbnails_prefix(job_id)}thumb-{index:05d}.jpg"


def thumbnail_index(key: str) -> int | None:
    """The index a thumbnail's key names (`.../thumb-00007.jpg` -> 7), None for other keys."""
    name = key.rsplit("/", 1)[-1]
    if name.startswith("thumb-") and name.endswith(".jpg") and name[6:-4].isdigit():
        return int(name[6:-4])
    return None
