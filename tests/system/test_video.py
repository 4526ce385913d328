"""Videos through the public HTTP API: the ladder, HLS, previews, progress, fan-out and every failure.

Test media is made by ffmpeg's lavfi sources (tests/video_samples.py); the workers are real processes
running Debian's ffmpeg against the session's Kafka and MinIO.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from PIL import Image

from infra.local.stack import LocalStack
from services.reencoder.main import TASKS
from services.reencoder.video import fmp4
from shared.events import JOBS_STATUS, VIDEO_PROGRESS, JobStatus
from tests.eventually import eventually
from tests.system.conftest import Site, read_topic, start_site
from tests.video_samples import (
    empty_video,
    ffmpeg_binary,
    mp4_lookalike,
    truncated_video,
    video_bytes,
)

WORKERS = ("video-a", "video-b")
#: Low limits for this module, so over-limit inputs stay small.
LIMITS = {
    "VIDEO_MAX_DURATION_S": "32",
    "VIDEO_MAX_EDGE": "1920",
    "VIDEO_MAX_PIXELS": str(1920 * 1080),
    "VIDEO_MAX_UPLOAD_BYTES": str(30 * 1024 * 1024),
    # The chunks of 5 s (one segment each), so that the clips here make several.
    "VIDEO_CHUNK_S": "5",
    "VIDEO_HLS_SEGMENT_S": "5",
    # Chunk tasks read every original by URL here, however small (by default only large ones).
    "VIDEO_READ_BY_URL_FROM_BYTES": "0",
}
#: The task ids of a clip of 5 s or less with audio, whose ladder is 360p and 720p.
ONE_CHUNK_TASKS = {"chunk-00000", "audio", "preview", "mp4-360p", "mp4-720p"}


@dataclass(frozen=True)
class FfmpegLog:
    """The module's workers run the real ffmpeg through a wrapper that logs each command line (so
    tests count encodes) and waits while a hold file names a pattern its command line contains."""

    wrapper: Path
    log: Path
    holds: Path

    def commands(self, needle: str) -> list[str]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [line for line in lines if needle in line]

    def encodes(self, needle: str) -> list[str]:
        """The encodes (HLS outputs; not the poster's one frame) whose command line names `needle`."""
        return [line for line in self.commands(needle) if "index.m3u8" in line]

    def hold(self, pattern: str) -> Path:
        """Until the returned file is removed, ffmpeg commands containing `pattern` wait to start."""
        hold = self.holds / f"hold-{len(list(self.holds.iterdir()))}"
        hold.write_text(pattern)
        return hold


@pytest.fixture(scope="module")
def ffmpeg_log(tmp_path_factory: pytest.TempPathFactory) -> FfmpegLog:
    folder = tmp_path_factory.mktemp("ffmpeg")
    log, holds, wrapper = folder / "commands.log", folder / "holds", folder / "ffmpeg"
    holds.mkdir()
    wrapper.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        f"for hold in {holds}/*; do\n"
        '  [ -e "$hold" ] || continue\n'
        '  case "$*" in *"$(cat "$hold")"*) while [ -e "$hold" ]; do sleep 0.2; done;; esac\n'
        "done\n"
        f'exec {ffmpeg_binary()} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return FfmpegLog(wrapper, log, holds)


@pytest.fixture(scope="module")
def site(stack: LocalStack, ffmpeg_log: FfmpegLog) -> Iterator[Site]:
    """Frontend and friends, and two video workers (tests that need other workers swap them)."""
    saved = dict(stack.config.service_env)
    stack.config.service_env.update({**LIMITS, "VIDEO_FFMPEG_BINARY": str(ffmpeg_log.wrapper)})
    running = start_site(stack, reencoders=0)
    try:
        start_workers(running, WORKERS)
        yield running
    finally:
        running.http.close()
        stack.stop_services()
        stack.config.service_env = saved


def start_workers(site: Site, names: tuple[str, ...], env: dict[str, str] | None = None) -> None:
    for name in names:
        site.stack.start_service(name, "services.reencoder", {"INSTANCE_ID": name, **(env or {})})
    assert TASKS.group is not None
    site.wait_for_group(TASKS.group, members=len(names))


def stop_workers(site: Site, names: tuple[str, ...]) -> None:
    for name in names:
        site.stack.stop_service(name)


def upload_video(site: Site, data: bytes, filename: str) -> str:
    response = site.upload(data, filename, "application/octet-stream")
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def ffprobe(data: bytes) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".bin") as file:
        file.write(data)
        file.flush()
        ffprobe = str(Path(ffmpeg_binary()).with_name("ffprobe"))
        command = [ffprobe, "-v", "error", "-print_format", "json", "-show_streams", "-show_format"]
        report: dict[str, Any] = json.loads(subprocess.run([*command, file.name], capture_output=True).stdout)
    return report


def stream(report: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((s for s in report["streams"] if s["codec_type"] == kind), None)


def parse_playlist(text: str) -> list[tuple[str, str]]:
    """(tag line, URI) pairs of an m3u8: the `#EXT-X-STREAM-INF`/`#EXTINF` line before each URI."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[0] == "#EXTM3U"
    pairs, tag = [], ""
    for line in lines[1:]:
        if line.startswith("#"):
            tag = line
        else:
            pairs.append((tag, line))
    return pairs


def attributes(tag: str) -> dict[str, str]:
    """`#EXT-X-STREAM-INF:A=1,B="x,y"` -> {"A": "1", "B": "x,y"}."""
    body = tag.split(":", 1)[1]
    return {key: value.strip('"') for key, value in re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', body)}


def fetch_media(url: str) -> bytes:
    """A segment or init segment by the presigned URL a playlist names, fetched as a player does:
    with no credentials of the site (storage refuses a request signed twice, by query and header)."""
    with httpx.Client(timeout=30) as player:
        response = player.get(url)
    assert response.status_code == 200, (url, response.text[:300])
    return response.content


def extinf_seconds(tag: str) -> float:
    return float(tag.split(":", 1)[1].split(",")[0])


def sprite_tiles(sprite: bytes, size: tuple[int, int]) -> list[bytes]:
    """The pixels of each tile of a sprite sheet, row by row."""
    width, height = size
    with Image.open(io.BytesIO(sprite)) as picture:
        columns, rows = picture.width // width, picture.height // height
        return [
            picture.crop((c * width, r * height, (c + 1) * width, (r + 1) * height)).tobytes()
            for r in range(rows)
            for c in range(columns)
        ]


def stored_keys(site: Site, job_id: str) -> set[str]:
    return {
        key.removeprefix(f"{job_id}/")
        for key in site.store.list_keys(site.store.renditions_bucket, f"{job_id}/")
    }


def task_marker(site: Site, job_id: str, task_id: str) -> dict[str, Any]:
    marker = site.store.get_json(site.store.renditions_bucket, f"{job_id}/tasks/{task_id}.json")
    assert isinstance(marker, dict), f"task {task_id} of job {job_id} has no done-marker"
    return marker


def no_scratch_left(job_id: str, what: str) -> None:
    """Wait (up to a minute) until no task of `job_id` has a scratch folder in the temporary folder."""
    eventually(
        lambda: list(Path(tempfile.gettempdir()).glob(f"task-{job_id}-*")),
        until=lambda left: not left,
        timeout=60,
        interval=0.2,
        what=what,
    )


def test_video_gets_an_h264_ladder_hls_package_and_previews(site: Site) -> None:
    job_id = upload_video(site, video_bytes(seconds=3, width=1280, height=720), "clip.mp4")
    job = site.wait_for(job_id, timeout=240)
    assert job["status"] == "done", job["error"]
    assert job["kind"] == "video"
    assert job["progress"] == 1.0
    renditions = {r["name"]: r for r in job["renditions"]}
    assert set(renditions) == {"poster", "sprite", "storyboard", "360p", "720p", "hls"}

    for name, size in (("360p", (640, 360)), ("720p", (1280, 720))):
        rendition = renditions[name]
        assert (rendition["width"], rendition["height"]) == size
        download = site.http.get(rendition["url"])
        assert download.status_code == 200
        assert download.headers["content-type"] == "video/mp4"
        # +faststart: the index (moov) comes before the media data, so playback starts at once.
        assert download.content.index(b"moov") < download.content.index(b"mdat")
        report = ffprobe(download.content)
        video, audio = stream(report, "video"), stream(report, "audio")
        assert video is not None
        assert audio is not None
        assert (video["codec_name"], video["width"], video["height"]) == ("h264", *size)
        assert audio["codec_name"] == "aac"
        assert abs(float(report["format"]["duration"]) - 3.0) < 0.3

    poster = site.http.get(renditions["poster"]["url"])
    assert poster.headers["content-type"] == "image/jpeg"
    assert (renditions["poster"]["width"], renditions["poster"]["height"]) == (1280, 720)
    sprite = ffprobe(site.http.get(renditions["sprite"]["url"]).content)["streams"][0]
    assert (sprite["width"], sprite["height"]) == (5 * 160, 2 * 90)  # a 5x2 grid of thumbnails
    storyboard = site.http.get(renditions["storyboard"]["url"])
    assert storyboard.headers["content-type"].startswith("text/vtt")
    cues = [line for line in storyboard.text.splitlines() if "#xywh=" in line]
    assert cues[0] == "sprite.jpg#xywh=0,0,160,90"
    assert cues[-1] == "sprite.jpg#xywh=640,90,160,90"
    assert len(cues) == 10
    last_end = storyboard.text.split(" --> ")[-1].split()[0]  # the last tile runs to the end
    assert abs(float(last_end.rsplit(":", 1)[1]) - 3.0) < 0.1
    # Ten moments of the moving pattern, each taken by the chunk's own decode (no tile repeats one
    # that stands in for a missing thumbnail).
    assert len(set(sprite_tiles(site.http.get(renditions["sprite"]["url"]).content, (160, 90)))) == 10

    master_url = renditions["hls"]["url"]
    master = site.http.get(master_url)
    assert master.status_code == 200
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    variants = parse_playlist(master.text)
    resolutions = [attributes(tag)["RESOLUTION"] for tag, _uri in variants]
    assert resolutions == ["640x360", "1280x720"]  # lowest bandwidth first
    for tag, uri in variants:
        assert tag.startswith("#EXT-X-STREAM-INF:")
        attrs = attributes(tag)
        assert int(attrs["BANDWIDTH"]) >= int(attrs["AVERAGE-BANDWIDTH"]) > 0
        assert attrs["CODECS"].startswith("avc1.64")
        assert attrs["CODECS"].endswith(",mp4a.40.2")
        assert attrs["AUDIO"] == "audio"
        variant_url = urljoin(master_url, uri)
        variant = site.http.get(variant_url)
        assert variant.status_code == 200, variant_url
        assert "#EXT-X-ENDLIST" in variant.text
        assert "#EXT-X-PLAYLIST-TYPE:EVENT" in variant.text
        assert '#EXT-X-MAP:URI="' in variant.text
        segments = parse_playlist(variant.text)
        assert abs(sum(float(t.split(":")[1].split(",")[0]) for t, _ in segments) - 3.0) < 0.05
        for _tag, segment_uri in segments:
            assert fetch_media(urljoin(variant_url, segment_uri))[4:8] == b"styp"  # a CMAF segment
    assert "#EXT-X-MEDIA:TYPE=AUDIO" in master.text

    # One set of outputs under deterministic keys, markers and the manifest.
    keys = stored_keys(site, job_id)
    assert {"poster.jpg", "sprite.jpg", "storyboard.vtt", "video/360p.mp4", "video/720p.mp4"} <= keys
    assert "hls/master.m3u8" in keys
    assert {"manifest.json", "plan.json"} | {f"tasks/{task}.json" for task in ONE_CHUNK_TASKS} <= keys
    assert not [key for key in keys if key.startswith("previews/")], "the sprite's thumbnails are removed"
    assert {
        f"hls/{name}/{file}" for name in ("360p", "720p", "audio") for file in ("index.m3u8", "init.mp4")
    } <= keys

    # The job's tasks were spread over both workers (consecutive partitions, round-robin assignment).
    workers = {task_marker(site, job_id, task)["worker_id"] for task in ONE_CHUNK_TASKS}
    assert workers == set(WORKERS)


def test_progress_events_are_per_task_bounded_in_rate_and_reach_the_end(site: Site) -> None:
    job_id = upload_video(site, video_bytes(seconds=4, width=1280, height=720), "progress.mp4")
    job = site.wait_for(job_id, timeout=240)
    assert job["status"] == "done", job["error"]
    events = [e for e in read_topic(site.stack, VIDEO_PROGRESS, timeout=2) if e.job_id == job_id]
    by_task: dict[str, list[Any]] = {}
    for event in events:
        by_task.setdefault(event.task_id, []).append(event)
    assert set(by_task) == ONE_CHUNK_TASKS
    assert abs(sum(task[0].weight for task in by_task.values()) - 1.0) < 1e-6
    for task_events in by_task.values():
        fractions = [e.fraction for e in task_events]
        assert fractions == sorted(fractions)
        assert fractions[-1] == 1.0
        # At most about one a second: every gap but the final report's is at least the interval.
        times = [e.occurred_at.timestamp() for e in task_events[:-1]]
        assert all(later - earlier >= 0.9 for earlier, later in itertools.pairwise(times))


def test_live_stream_shows_progress_and_finishes_done(site: Site) -> None:
    job_id = upload_video(site, video_bytes(seconds=4, width=1280, height=720), "live.mp4")
    seen: list[dict[str, Any]] = []
    with site.http.stream("GET", f"/api/jobs/{job_id}/events", timeout=240) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line.removeprefix("data: ")))
    assert seen[-1]["status"] == "done"
    progress = [job["progress"] for job in seen]
    assert progress == sorted(progress)
    assert any(0 < job["progress"] < 1 for job in seen), "no intermediate progress was streamed"
    assert "eta_s" in seen[-1]


@pytest.mark.parametrize(
    ("sample", "filename", "expected", "audio"),
    [
        # A phone video: landscape pixels with a display rotation of 90 degrees comes out portrait.
        ({"container": "mov", "rotate": 90, "width": 320, "height": 180}, "phone.mov", (180, 320), True),
        ({"width": 240, "height": 426}, "vertical.mp4", (240, 426), True),
        ({"container": "mkv", "audio": False, "width": 480, "height": 360}, "hevc.mkv", (480, 360), False),
        ({"container": "webm"}, "vp9.webm", (320, 240), True),
        ({"container": "avi"}, "mpeg4.avi", (320, 240), True),
        ({"container": "mkv", "video_codec": "libaom-av1"}, "av1.mkv", (320, 240), True),
        ({"width": 321, "height": 241}, "odd.mp4", (320, 240), True),
        ({"variable_frame_rate": True}, "vfr.mp4", (320, 240), True),
    ],
)
def test_inputs_of_every_kind_come_out_right(
    site: Site, sample: dict[str, Any], filename: str, expected: tuple[int, int], audio: bool
) -> None:
    job_id = upload_video(site, video_bytes(**sample), filename)
    job = site.wait_for(job_id, timeout=180)
    assert job["status"] == "done", job["error"]
    videos = [r for r in job["renditions"] if r["content_type"] == "video/mp4"]
    assert len(videos) == 1, "a source below the lowest rung gets one rendition at its own size"
    assert (videos[0]["width"], videos[0]["height"]) == expected
    report = ffprobe(site.http.get(videos[0]["url"]).content)
    video = stream(report, "video")
    assert video is not None
    assert (video["width"], video["height"]) == expected
    assert not video.get("side_data_list"), "the rotation is applied, not left for the player"
    assert video["avg_frame_rate"] == video["r_frame_rate"], "the output has a constant frame rate"
    assert (stream(report, "audio") is not None) is audio
    hls = next(r for r in job["renditions"] if r["name"] == "hls")
    codecs = attributes(parse_playlist(site.http.get(hls["url"]).text)[0][0])["CODECS"]
    assert codecs.endswith(",mp4a.40.2") is audio


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (empty_video, "no video stream"),
        (lambda: video_bytes(seconds=33, width=160, height=120, audio=False), "33 s long, over the limit"),
        (lambda: video_bytes(seconds=1, width=2560, height=1440, audio=False), "over the limit of 1920 px"),
    ],
    ids=["zero-length", "too-long", "too-large"],
)
def test_bad_input_fails_the_job_with_a_reason_and_leaves_nothing(site: Site, make: Any, reason: str) -> None:
    job_id = upload_video(site, make(), "bad.mp4")
    job = site.wait_for(job_id, timeout=120)
    assert job["status"] == "failed"
    assert reason in job["error"]
    assert "/tmp" not in job["error"], "scratch paths mean nothing to users"
    assert stored_keys(site, job_id) == {"failed.json"}


@pytest.mark.parametrize(
    "make",
    [mp4_lookalike, lambda: truncated_video(video_bytes(seconds=2))],
    ids=["not-a-video", "truncated"],
)
def test_a_file_that_only_starts_like_a_video_is_refused_at_upload_with_the_reason(
    site: Site, make: Any
) -> None:
    """Before: accepted as a video under the video size limit, copied to the workers, failed there."""
    response = site.upload(make(), "bad.mp4", "application/octet-stream")
    assert response.status_code == 422, response.text
    assert "starts like an MP4 video but is not one" in response.json()["detail"]


def padded_video(size: int) -> bytes:
    """A real MP4 grown to `size` bytes by a trailing `free` box (padding any MP4 may hold)."""
    data = video_bytes(seconds=1, width=160, height=120, audio=False)
    padding = size - len(data)
    return data + padding.to_bytes(4, "big") + b"free" + bytes(padding - 8)


def test_a_video_over_the_upload_limit_is_refused_before_any_job(site: Site) -> None:
    # Larger than the image limit (20 MiB in tests), within the video limit: accepted as a video.
    response = site.upload(padded_video(25 * 1024 * 1024), "big.mp4", "video/mp4")
    assert response.status_code == 202, response.text
    response = site.upload(padded_video(31 * 1024 * 1024), "huge.mp4", "video/mp4")
    assert response.status_code == 413
    assert "over the limit of 31,457,280 bytes" in response.json()["detail"]


def test_workers_go_on_after_bad_input(site: Site) -> None:
    job_id = upload_video(site, video_bytes(seconds=1), "after.mp4")
    assert site.wait_for(job_id, timeout=120)["status"] == "done"


def test_an_ffmpeg_that_hangs_is_killed_at_the_task_timeout(site: Site, tmp_path: Path) -> None:
    hanging = tmp_path / "ffmpeg-that-hangs"
    hanging.write_text("#!/bin/sh\nexec sleep 3600\n")
    hanging.chmod(hanging.stat().st_mode | stat.S_IEXEC)
    stop_workers(site, WORKERS)
    try:
        start_workers(
            site, ("video-hang",), {"VIDEO_FFMPEG_BINARY": str(hanging), "VIDEO_TASK_TIMEOUT_S": "3"}
        )
        job_id = upload_video(site, video_bytes(seconds=1), "hang.mp4")
        job = site.wait_for(job_id, timeout=120)
        assert job["status"] == "failed"
        assert "longer than the 3 s limit" in job["error"]
        assert stored_keys(site, job_id) == {"failed.json"}
        # The job fails at its first timed-out task; its other task times out too, then cleans up.
        no_scratch_left(job_id, "the scratch folders of the job removed")
    finally:
        stop_workers(site, ("video-hang",))
        start_workers(site, WORKERS)


def test_worker_killed_mid_encode_task_is_redone_by_another_once(site: Site, ffmpeg_log: FfmpegLog) -> None:
    job_id = upload_video(site, video_bytes(seconds=8, width=1280, height=720), "long.mp4")
    encoding = eventually(
        lambda: [
            e
            for e in read_topic(site.stack, VIDEO_PROGRESS, 0.5)
            if e.job_id == job_id and e.task_id == "chunk-00001" and e.fraction < 0.5
        ],
        timeout=120,
        interval=0,
        what="progress of the second chunk",
    )
    victim = encoding[0].worker_id
    site.stack.services[victim].kill()
    finished_before = {
        key.rsplit("/", 1)[-1].removesuffix(".json")
        for key in site.store.list_keys(site.store.renditions_bucket, f"{job_id}/tasks/chunk-")
    }
    try:
        job = site.wait_for(job_id, timeout=300)
        assert job["status"] == "done", job["error"]
        survivor = next(name for name in WORKERS if name != victim)
        assert task_marker(site, job_id, "chunk-00001")["worker_id"] == survivor
        done = [e for e in read_topic(site.stack, JOBS_STATUS, 2) if e.job_id == job_id]
        assert [e.status for e in done].count(JobStatus.DONE) == 1
        names = sorted(r["name"] for r in job["renditions"])
        assert names == ["360p", "720p", "hls", "poster", "sprite", "storyboard"]
        top = next(r["url"] for r in job["renditions"] if r["name"] == "720p")
        assert abs(float(ffprobe(site.http.get(top).content)["format"]["duration"]) - 8) < 0.1
        master_url = next(r["url"] for r in job["renditions"] if r["name"] == "hls")
        variant = site.http.get(urljoin(master_url, "hls/720p/index.m3u8"))
        # The playlist names each segment by a presigned URL: compare file names.
        listed = {urlsplit(uri).path.rsplit("/", 1)[-1] for _tag, uri in parse_playlist(variant.text)}
        stored = {
            k.removeprefix("hls/720p/") for k in stored_keys(site, job_id) if k.startswith("hls/720p/seg_")
        }
        assert stored == listed, "segments of two encodes were mixed"
        # Only the killed chunk was encoded again; chunks done before the kill were not.
        assert len(ffmpeg_log.encodes(f"{job_id}-chunk-00001")) == 2
        for chunk in finished_before:
            assert len(ffmpeg_log.encodes(f"{job_id}-{chunk}")) == 1, chunk
    finally:
        stop_workers(site, WORKERS)
        start_workers(site, WORKERS)


def test_a_stopped_worker_hands_its_task_back_kills_ffmpeg_and_removes_its_scratch(site: Site) -> None:
    stop_workers(site, WORKERS)
    quick_exit = {"REENCODER_SHUTDOWN_GRACE_S": "1"}
    try:
        start_workers(site, ("video-stopping",), quick_exit)
        job_id = upload_video(site, video_bytes(seconds=8, width=1280, height=720), "stopped.mp4")
        eventually(
            lambda: [e for e in read_topic(site.stack, VIDEO_PROGRESS, 0.5) if e.job_id == job_id],
            timeout=120,
            interval=0,
            what="a task of the job started",
        )
        site.stack.stop_service("video-stopping")  # SIGTERM, mid-encode
        assert not list(Path(tempfile.gettempdir()).glob(f"task-{job_id}-*")), "scratch left behind"
        start_workers(site, ("video-after",))
        job = site.wait_for(job_id, timeout=300)
        assert job["status"] == "done", job["error"]
        tasks = site.store.list_keys(site.store.renditions_bucket, f"{job_id}/tasks/")
        workers = {
            task_marker(site, job_id, key.rsplit("/", 1)[-1].removesuffix(".json"))["worker_id"]
            for key in tasks
        }
        assert "video-after" in workers, "the handed-back task was not redone by the next worker"
    finally:
        stop_workers(site, ("video-stopping", "video-after"))
        start_workers(site, WORKERS)


def test_the_page_has_a_player_with_a_vendored_hls_js(site: Site) -> None:
    script = site.http.get("/vendor/hls/hls.min.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert site.http.get("/vendor/hls/LICENSE").status_code == 200
    # The page of one upload plays it (tests/system/test_browser.py watches it play in Chromium).
    player = site.http.get("/upload.js").text
    assert "/vendor/hls/hls.min.js" in player
    assert (
        'canPlayType("application/vnd.apple.mpegurl")' in player
    )  # native HLS first (Safari), hls.js elsewhere


def test_when_one_chunk_fails_the_others_stop_and_nothing_is_left(site: Site, tmp_path: Path) -> None:
    # Real ffmpeg, except that it refuses the chunk at 5 s (as a decoder bug on one stretch might).
    wrapper = tmp_path / "ffmpeg-failing-at-5s"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$*" in *"-ss 5.000"*) echo "simulated encoder failure at 5 s" >&2; exit 1;; esac\n'
        f'exec {ffmpeg_binary()} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    names = ("video-e", "video-f")
    stop_workers(site, WORKERS)
    try:
        start_workers(site, names, {"VIDEO_FFMPEG_BINARY": str(wrapper)})
        job_id = upload_video(site, video_bytes(seconds=10, width=1280, height=720), "partly.mp4")
        job = site.wait_for(job_id, timeout=120)
        assert job["status"] == "failed"
        assert "simulated encoder failure at 5 s" in job["error"]
        no_scratch_left(job_id, "every task of the job stopped, its scratch folder removed")
        assert stored_keys(site, job_id) == {"failed.json"}
        progress = [e for e in read_topic(site.stack, VIDEO_PROGRESS, 1) if e.job_id == job_id]
        assert not [e for e in progress if e.task_id.startswith("mp4-")], "MP4s assembled for nothing"
    finally:
        stop_workers(site, names)
        start_workers(site, WORKERS)


def test_chunk_tasks_that_cannot_read_the_original_by_url_download_it(site: Site, tmp_path: Path) -> None:
    # Real ffmpeg, except that it cannot open URLs (as behind a proxy that answers no ranges might).
    wrapper = tmp_path / "ffmpeg-without-http"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$*" in *"-i http"*) echo "simulated: protocol not found" >&2; exit 1;; esac\n'
        f'exec {ffmpeg_binary()} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    names = ("video-g",)
    stop_workers(site, WORKERS)
    try:
        start_workers(site, names, {"VIDEO_FFMPEG_BINARY": str(wrapper)})
        job_id = upload_video(site, video_bytes(seconds=6, width=640, height=360), "fallback.mp4")
        job = site.wait_for(job_id, timeout=180)
        assert job["status"] == "done", job["error"]
        log = (site.stack.logs_dir / "video-g.log").read_text(errors="replace")
        for chunk in ("chunk-00000", "chunk-00001"):
            assert f"task {job_id}/{chunk}: reading the original by URL failed" in log
        video = next(r["url"] for r in job["renditions"] if r["name"] == "360p")
        assert abs(float(ffprobe(site.http.get(video).content)["format"]["duration"]) - 6) < 0.1
    finally:
        stop_workers(site, names)
        start_workers(site, WORKERS)


@dataclass(frozen=True)
class Rendition:
    """One media playlist of a package, as a player reads it."""

    text: str
    #: (seconds, absolute URL) of each segment, in order.
    segments: list[tuple[float, str]]
    init_url: str

    @property
    def seconds(self) -> float:
        return sum(seconds for seconds, _url in self.segments)

    def starts_s(self) -> list[float]:
        """When each segment starts on the timeline, read from the segment itself (tfdt)."""
        scale = fmp4.timescale(fetch_media(self.init_url))
        return [fmp4.decode_time(fetch_media(url)) / scale for _seconds, url in self.segments]


def read_package(site: Site, master_url: str) -> tuple[str, dict[str, Rendition]]:
    """The master playlist and every media playlist it names (variants and audio), by name."""
    master = site.http.get(master_url)
    assert master.status_code == 200, master.text
    assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert "no-cache" in master.headers["cache-control"]
    uris = [uri for _tag, uri in parse_playlist(master.text)]
    uris += re.findall(r'#EXT-X-MEDIA:.*URI="([^"]+)"', master.text)
    renditions = {}
    for uri in uris:
        url = urljoin(str(master.url), uri)
        answer = site.http.get(url)
        assert answer.status_code == 200, url
        assert "no-cache" in answer.headers["cache-control"], "a growing playlist must not be kept"
        init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', answer.text)
        assert init is not None
        segments = [(extinf_seconds(tag), urljoin(url, file)) for tag, file in parse_playlist(answer.text)]
        renditions[uri.split("/")[-2]] = Rendition(answer.text, segments, urljoin(url, init.group(1)))
    return master.text, renditions


def test_a_clip_in_chunks_plays_while_it_encodes_and_ends_as_one_video(
    site: Site, ffmpeg_log: FfmpegLog
) -> None:
    """The issue's 30 s in chunks of 5 s (a segment each), at the smallest size with two rungs (960x720:
    360p and 720p); the last chunk is held back until the package has been read as a player reads
    it while the job runs. The two workers share the chunks."""
    frame_s, seconds = 1 / 25, 30
    held = ffmpeg_log.hold("-ss 25.000")  # the last chunk's encode waits
    try:
        job_id = upload_video(site, video_bytes(seconds=seconds, width=960, height=720), "chunks.mp4")
        running = eventually(
            lambda: site.http.get(f"/api/jobs/{job_id}").json(),
            until=lambda job: job["playable_at"] is not None or job["status"] in ("done", "failed"),
            timeout=240,
            what="the job playable",
        )
        assert running["status"] == "processing", running["error"]
        assert running["stream_url"] is not None
        # The first chunk made the poster: the page shows it before the job is done.
        assert running["poster_url"] is not None
        poster = site.http.get(running["poster_url"])
        assert poster.status_code == 200
        assert poster.headers["content-type"] == "image/jpeg"
        with site.http.stream("GET", f"/api/jobs/{job_id}/events", timeout=30) as events:
            first = next(line for line in events.iter_lines() if line.startswith("data: "))
        streamed = json.loads(first.removeprefix("data: "))
        assert streamed["playable_at"] == running["playable_at"]
        assert streamed["poster_url"] == running["poster_url"]

        master, playing = read_package(site, running["stream_url"])
        assert set(playing) == {"360p", "720p", "audio"}
        assert '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"' in master
        for name in ("360p", "720p"):
            assert "#EXT-X-PLAYLIST-TYPE:EVENT" in playing[name].text
            assert "#EXT-X-ENDLIST" not in playing[name].text, "the last chunk is still held back"
            assert 1 <= len(playing[name].segments) <= 5  # chunks 0 (to 4), not the held one
            assert fetch_media(playing[name].segments[0][1])[4:8] == b"styp"
        assert "#EXT-X-ENDLIST" in playing["audio"].text  # the audio is encoded in one go
        # A share link plays it too, poster and all, before it is done.
        created = site.http.post(f"/api/jobs/{job_id}/shares", json={"expires_in_s": 3600})
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        page = site.http.get(f"/s/{token}").text
        assert re.search(rf'data-src="[^"]*/s/{re.escape(token)}/media/hls"', page)
        assert re.search(rf'poster="[^"]*/s/{re.escape(token)}/media/poster"', page)
        shared = site.http.get(f"/s/{token}/media/hls")
        assert shared.status_code == 200, shared.text
        assert "#EXT-X-STREAM-INF" in shared.text
        assert site.http.get(f"/api/jobs/{job_id}").json()["status"] == "processing"
        # The previews tile the chunks' thumbnails: they wait for the last chunk.
        assert "tasks/preview.json" not in stored_keys(site, job_id)
    finally:
        held.unlink()

    job = site.wait_for(job_id, timeout=240)
    assert job["status"] == "done", job["error"]
    assert job["playable_at"] is not None
    assert job["stream_url"] == next(r["url"] for r in job["renditions"] if r["name"] == "hls")
    assert job["poster_url"] == next(r["url"] for r in job["renditions"] if r["name"] == "poster")
    _master, package = read_package(site, job["stream_url"])
    video = {name: package[name] for name in ("360p", "720p")}
    for rendition in package.values():
        assert "#EXT-X-ENDLIST" in rendition.text
        assert abs(rendition.seconds - seconds) < frame_s, "the segments add up to the clip, within a frame"
    # Switching works: every rung cuts at the same moments, each segment where the one before ends.
    assert [s for s, _ in video["360p"].segments] == [s for s, _ in video["720p"].segments]
    starts = video["720p"].starts_s()
    assert starts == video["360p"].starts_s()
    listed = list(itertools.accumulate([s for s, _ in video["720p"].segments], initial=0.0))[:-1]
    assert all(abs(read - expected) < frame_s for read, expected in zip(starts, listed, strict=True))
    # The audio covers the clip without a gap between its segments.
    audio_starts = package["audio"].starts_s()
    audio_listed = list(
        itertools.accumulate([s for s, _ in package["audio"].segments], initial=audio_starts[0])
    )[:-1]
    assert all(abs(read - expected) < 0.03 for read, expected in zip(audio_starts, audio_listed, strict=True))

    for name in ("360p", "720p"):
        report = ffprobe(
            site.http.get(next(r["url"] for r in job["renditions"] if r["name"] == name)).content
        )
        assert abs(float(report["format"]["duration"]) - seconds) < 0.1
        assert stream(report, "audio") is not None
    # Each chunk was encoded once (every rung in that one decode), the audio once.
    chunks = [f"chunk-{chunk:05d}" for chunk in range(6)]
    for chunk in chunks:
        (encode,) = ffmpeg_log.encodes(f"{job_id}-{chunk}")
        # Read from storage by URL, seeking by ranges to the chunk's start, not downloaded whole.
        assert re.search(r" -ss [0-9.]+ .*-i http://", encode), encode
    assert len(ffmpeg_log.encodes(f"{job_id}-audio")) == 1
    # The sprite came from the chunks' decodes (every one of its ten moments), not from one more.
    assert ffmpeg_log.commands(f"{job_id}-preview") == []
    sprite = next(r for r in job["renditions"] if r["name"] == "sprite")
    assert len(set(sprite_tiles(site.http.get(sprite["url"]).content, (160, 120)))) == 10
    assert not [key for key in stored_keys(site, job_id) if key.startswith("previews/")]
    # Two workers shared the video's chunks: each one's own log says which chunks it did.
    done_by = {name: chunks_done_in_log(site, name, job_id) for name in WORKERS}
    assert all(done_by.values()), done_by
    assert sorted(c for done in done_by.values() for c in done) == chunks
    assert {task_marker(site, job_id, chunk)["worker_id"] for chunk in chunks} == set(WORKERS)


def chunks_done_in_log(site: Site, worker: str, job_id: str) -> list[str]:
    """The chunk tasks of `job_id` the worker's log says it finished."""
    log = (site.stack.logs_dir / f"{worker}.log").read_text(errors="replace")
    return re.findall(rf"task {job_id}/(chunk-\d+): done", log)


def test_the_av1_variant_of_the_top_rung_is_in_the_master_with_its_codec(site: Site) -> None:
    stop_workers(site, WORKERS)
    try:
        start_workers(site, ("video-av1",), {"VIDEO_AV1": "true"})
        job_id = upload_video(site, video_bytes(seconds=2, width=640, height=360), "av1.mp4")
        job = site.wait_for(job_id, timeout=240)
        assert job["status"] == "done", job["error"]
        master = site.http.get(job["stream_url"]).text
        variants = {uri.split("/")[-2]: attributes(tag) for tag, uri in parse_playlist(master)}
        assert set(variants) == {"360p", "360pav1"}
        assert variants["360p"]["CODECS"].startswith("avc1.64")
        assert re.fullmatch(r"av01\.0\.\d\dM\.08,mp4a\.40\.2", variants["360pav1"]["CODECS"])
        assert variants["360pav1"]["RESOLUTION"] == variants["360p"]["RESOLUTION"] == "640x360"
        download = next(r["url"] for r in job["renditions"] if r["name"] == "360pav1")
        report = ffprobe(site.http.get(download).content)
        video = stream(report, "video")
        assert video is not None
        assert video["codec_name"] == "av1"
        assert abs(float(report["format"]["duration"]) - 2) < 0.1
    finally:
        stop_workers(site, ("video-av1",))
        start_workers(site, WORKERS)
