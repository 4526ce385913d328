"""Uploads through the public API, as users make them, and a tally of what each one was answered.

Media are real: gradient and noise images made with Pillow and short test-pattern videos made by
ffmpeg (tests/media_samples.py, tests/video_samples.py), made once at the start of the run.
"""

from __future__ import annotations

import io
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
from PIL import Image

from tests.api_client import sign_up
from tests.media_samples import image_bytes
from tests.video_samples import video_bytes

HTTP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Media:
    filename: str
    data: bytes
    content_type: str
    kind: str  # "image" or "video"


def sample_media(seed: int) -> tuple[list[Media], list[Media]]:
    """A few images of different sizes and two short videos (mp4, webm)."""
    rng = random.Random(seed)
    images = [
        Media(f"photo-{w}x{h}.jpg", image_bytes(w, h), "image/jpeg", "image")
        for w, h in ((320, 240), (800, 600), (1600, 1200), (2400, 1600))
    ]
    images.append(Media("noise.png", noise_png(600, 400, rng), "image/png", "image"))
    videos = [
        Media("clip.mp4", video_bytes(seconds=2.0, width=320, height=240), "video/mp4", "video"),
        Media(
            "clip.webm",
            video_bytes(seconds=1.0, width=256, height=144, container="webm"),
            "video/webm",
            "video",
        ),
    ]
    return images, videos


def noise_png(width: int, height: int, rng: random.Random) -> bytes:
    """Random pixels: a PNG that barely compresses, so its upload takes a while."""
    image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Tally:
    """Every upload's answer, shared by the load and the faults (thread-safe)."""

    accepted: dict[str, str] = field(default_factory=dict)  # job id -> kind
    refused: Counter[str] = field(default_factory=Counter)  # answer -> count
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def accept(self, job_id: str, kind: str) -> None:
        with self._lock:
            self.accepted[job_id] = kind

    def refuse(self, answer: str) -> None:
        with self._lock:
            self.refused[answer] += 1

    def accepted_ids(self) -> list[str]:
        with self._lock:
            return list(self.accepted)

    @property
    def attempted(self) -> int:
        with self._lock:
            return len(self.accepted) + sum(self.refused.values())


class Uploader:
    """One signed-in user's client: uploads, recording each answer in the tally."""

    def __init__(self, base_url: str, tally: Tally) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT_S)
        self.tally = tally
        sign_up(self.http)

    def upload(self, media: Media) -> str | None:
        """The job id of a 202, else None (the refusal or error is tallied)."""
        try:
            response = self.http.post(
                "/api/uploads", files={"file": (media.filename, media.data, media.content_type)}
            )
        except httpx.HTTPError as error:
            self.tally.refuse(type(error).__name__)
            return None
        if response.status_code != 202:
            self.tally.refuse(str(response.status_code))
            return None
        job_id: str = response.json()["job_id"]
        self.tally.accept(job_id, media.kind)
        return job_id

    def status(self, job_id: str) -> tuple[str, str | None] | None:
        """(status, worker id) of a job, or None when the site does not answer."""
        try:
            response = self.http.get(f"/api/jobs/{job_id}")
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        job = response.json()
        return job["status"], job.get("worker_id")

    def wait_for(
        self, job_id: str, statuses: tuple[str, ...], timeout_s: float, interval_s: float = 0.2
    ) -> str | None:
        """The job's status once it is one of `statuses`, or None after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            seen = self.status(job_id)
            if seen is not None and seen[0] in statuses:
                return seen[0]
            time.sleep(interval_s)
        return None

    def close(self) -> None:
        self.http.close()


class BackgroundLoad(threading.Thread):
    """Users upload one after another, `pause_s` apart, until `stop()`."""

    def __init__(
        self,
        uploaders: list[Uploader],
        images: list[Media],
        videos: list[Media],
        pause_s: float,
        video_every: int,
        seed: int,
    ) -> None:
        super().__init__(name="chaos-load", daemon=True)
        self.uploaders = uploaders
        self.images, self.videos = images, videos
        self.pause_s = pause_s
        self.video_every = video_every
        self.rng = random.Random(seed)
        self._stopping = threading.Event()

    def run(self) -> None:
        count = 0
        while not self._stopping.is_set():
            count += 1
            uploader = self.uploaders[count % len(self.uploaders)]
            if self.video_every and self.videos and count % self.video_every == 0:
                media = self.rng.choice(self.videos)
            else:
                media = self.rng.choice(self.images)
            uploader.upload(media)
            self._stopping.wait(self.pause_s)

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=HTTP_TIMEOUT_S + 10)
