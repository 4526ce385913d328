"""Downloads delivered from storage: the frontend's memory while a large rendition is downloaded
through `/media/...` (a redirect to a presigned URL: the bytes never pass through Python), and the
download's speed against the same object read straight from MinIO with a presigned URL.

    .venv/bin/python -m bench.delivery                     # private stack, a 1 GiB rendition
    .venv/bin/python -m bench.delivery --size-mib 256

A small image goes through the pipeline; its `large` rendition's object is then replaced in storage
by `--size-mib` MiB of random bytes (the frontend never reads an object it delivers, so only the
size matters), and downloaded whole, following the redirect, while the frontend's resident memory
is sampled every 20 ms from /proc. Goal (issue #13): growth under 64 MiB. Never fails on time.

`download_peak_rss(...)` is the measurement alone, for other benchmarks (bench/uploads.py).
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import typer

from infra.local.stack import REPO_ROOT, LocalStack, StackConfig
from shared.presign import DownloadSigner
from shared.storage import MediaStore
from tests.api_client import sign_up
from tests.media_samples import image_bytes

app = typer.Typer(add_completion=False)

GOAL_MIB = 64
MIB = 1024 * 1024


def rss_bytes(pid: int) -> int:
    """The resident memory of process `pid` now (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass(frozen=True)
class Download:
    bytes: int
    seconds: float
    #: The process's resident memory before, and its highest sample during the download.
    rss_before: int
    rss_peak: int

    @property
    def growth_mib(self) -> float:
        return (self.rss_peak - self.rss_before) / MIB

    @property
    def mib_per_s(self) -> float:
        return self.bytes / MIB / self.seconds


def download_peak_rss(fetch: Callable[[], int], pid: int, interval_s: float = 0.02) -> Download:
    """Run `fetch` (which downloads and returns the bytes it got) while sampling `pid`'s memory."""
    before = rss_bytes(pid)
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(interval_s):
            peak = max(peak, rss_bytes(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        received = fetch()
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    return Download(received, seconds, before, max(peak, rss_bytes(pid)))


def stream_to_nowhere(client: httpx.Client, url: str) -> int:
    """GET `url` (following redirects) and count its bytes without keeping them."""
    received = 0
    with client.stream("GET", url) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes(1024 * 1024):
            received += len(chunk)
    return received


class _RandomStream(io.RawIOBase):
    """`size` pseudo-random bytes, generated as read (a large object without a large buffer)."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._block = os.urandom(MIB)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._left, len(self._block))
        buffer[:n] = self._block[:n]
        self._left -= n
        return n


def bench_stack(stack: LocalStack, size_mib: int) -> tuple[Download, Download]:
    """(through the frontend's redirect, straight from storage) for one rendition of `size_mib` MiB."""
    config = stack.config
    frontend = stack.services["frontend"]
    assert frontend.pid is not None
    with httpx.Client(base_url=config.frontend_url, timeout=600, follow_redirects=True) as http:
        sign_up(http)
        response = http.post("/api/uploads", files={"file": ("bench.jpg", image_bytes(), "image/jpeg")})
        response.raise_for_status()
        job_id = response.json()["job_id"]
        while (job := http.get(f"/api/jobs/{job_id}").json())["status"] not in ("done", "failed"):
            time.sleep(0.2)
        assert job["status"] == "done", job["error"]
        location = http.get(f"/media/{job_id}/large", follow_redirects=False).headers["location"]
        key = httpx.URL(location).path.split("/", 2)[2]
        store = MediaStore(config.storage)
        size = size_mib * MIB
        store.put_stream(store.renditions_bucket, key, _RandomStream(size), size, "image/webp")  # type: ignore[arg-type]
        via_site = download_peak_rss(lambda: stream_to_nowhere(http, f"/media/{job_id}/large"), frontend.pid)
        direct_url = DownloadSigner(config.storage).get_url(store.renditions_bucket, key, 600)
        with httpx.Client(timeout=600) as plain:
            direct = download_peak_rss(lambda: stream_to_nowhere(plain, direct_url), frontend.pid)
    assert via_site.bytes == size == direct.bytes
    return via_site, direct


@app.command()
def main(size_mib: int = typer.Option(1024, help="Size of the rendition downloaded, in MiB.")) -> None:
    state = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    config = StackConfig.on_free_ports(state, REPO_ROOT / ".state" / "cache")
    config.reencoders = 1
    stack = LocalStack(config)
    try:
        stack.start_infrastructure()
        stack.start_services()
        via_site, direct = bench_stack(stack, size_mib)
    finally:
        stack.stop()
    print(f"a {size_mib} MiB rendition, downloaded whole")
    print(
        f"through /media (307 to storage): {via_site.seconds:7.2f} s  {via_site.mib_per_s:8.1f} MiB/s  "
        f"frontend RSS growth {via_site.growth_mib:6.1f} MiB (goal < {GOAL_MIB})"
    )
    print(f"straight from storage:           {direct.seconds:7.2f} s  {direct.mib_per_s:8.1f} MiB/s")
    print(f"ratio through the site / direct: {direct.seconds / via_site.seconds:7.2f} (speed)")


if __name__ == "__main__":
    app()
