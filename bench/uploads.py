"""A large file through the site's resumable protocol against a plain multipart upload straight to MinIO.

    .venv/bin/python -m bench.uploads                      # private stack, 1 GiB
    .venv/bin/python -m bench.uploads --size-mib 200

Both sides use boto3's S3 multipart calls underneath and the same part size, parts and parallelism:

- **through the site**: `ResumableUploader` (what `reencode upload` runs): the frontend creates the
  upload and signs each part, the client PUTs the parts to MinIO, then `complete`;
- **straight to MinIO**: create, `upload_part` for each part in as many threads, complete, with the
  storage credentials (`shared.multipart.MultipartUploads`).

Prints both throughputs and their ratio (goal >= 0.9), and the frontend's resident memory growth
while the site's upload ran (goal < 64 MiB: no byte passes through Python; downloads are measured
by bench/delivery.py). The file is a real MP4 padded with a `free` box, so the job that follows
really runs. Never fails on time.
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import typer

from bench.delivery import rss_bytes
from infra.local.stack import REPO_ROOT, LocalStack, StackConfig
from infra.ops.upload_client import PARALLEL_PARTS, ResumableUploader
from shared.multipart import part_plan
from shared.storage import MediaStore
from tests.api_client import sign_up
from tests.video_samples import video_bytes

app = typer.Typer(add_completion=False)

MIB = 1024 * 1024
GOAL_RATIO = 0.9
GOAL_MIB = 64
PART_BYTES = 8 * MIB


def write_padded_video(path: Path, size: int) -> None:
    """A `size`-byte MP4: a short real video, then a `free` box of random bytes players skip."""
    movie = video_bytes(seconds=1.0, width=160, height=120, audio=False)
    block = os.urandom(MIB)
    with path.open("wb") as file:
        file.write(movie + struct.pack(">I4s", size - len(movie), b"free"))
        left = size - len(movie) - 8
        while left > 0:
            file.write(block[: min(left, MIB)])
            left -= MIB


def sdk_upload(store: MediaStore, path: Path, size: int) -> float:
    """Seconds for a plain multipart upload of `path` straight to MinIO."""
    multipart = store.multipart
    key = f"bench-{time.time_ns()}/original"
    part_size, count = part_plan(size, PART_BYTES)
    started = time.perf_counter()
    upload_id = multipart.create(key, "video/mp4")
    fd = os.open(path, os.O_RDONLY)
    try:

        def send(number: int) -> tuple[int, str]:
            length = min(part_size, size - (number - 1) * part_size)
            data = os.pread(fd, length, (number - 1) * part_size)
            return number, multipart.put_part(key, upload_id, number, data)

        with ThreadPoolExecutor(PARALLEL_PARTS) as pool:
            parts = list(pool.map(send, range(1, count + 1)))
        multipart.complete(key, upload_id, parts)
    finally:
        os.close(fd)
    seconds = time.perf_counter() - started
    store.remove(store.uploads_bucket, key)
    return seconds


def site_upload(http: httpx.Client, path: Path, pid: int, state_dir: Path) -> tuple[float, str, float]:
    """(seconds, job id, frontend RSS growth in MiB) for the upload through the site's protocol."""
    before = peak = rss_bytes(pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, rss_bytes(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    try:
        outcome = ResumableUploader(http, state_dir).upload(path)
    finally:
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    return seconds, outcome.job_id, (max(peak, rss_bytes(pid)) - before) / MIB


@app.command()
def main(
    size_mib: int = typer.Option(1024, help="Size of the file uploaded, in MiB."),
    repeat: int = typer.Option(3, help="Runs of each, interleaved; the fastest of each counts."),
) -> None:
    state = Path(tempfile.mkdtemp(prefix="bench-uploads-"))
    config = StackConfig.on_free_ports(state, REPO_ROOT / ".state" / "cache")
    config.reencoders = 1
    config.service_env = {"DIRECT_UPLOADS_PART_BYTES": str(PART_BYTES)}
    stack = LocalStack(config)
    size = size_mib * MIB
    movie = state / "bench.mp4"
    write_padded_video(movie, size)
    try:
        stack.start_infrastructure()
        stack.start_services()
        frontend = stack.services["frontend"]
        assert frontend.pid is not None
        store = MediaStore(config.storage)
        with httpx.Client(base_url=config.frontend_url, timeout=600, follow_redirects=True) as http:
            sign_up(http)
            # Interleaved, best of each: the machine's other load moves both alike.
            direct_runs, site_runs = [], []
            for _ in range(repeat):
                direct_runs.append(sdk_upload(store, movie, size))
                site_runs.append(site_upload(http, movie, frontend.pid, state / "cache"))
            direct_s = min(direct_runs)
            site_s, job_id, _ = min(site_runs)
            upload_growth = max(growth for _, _, growth in site_runs)
            while (job := http.get(f"/api/jobs/{job_id}").json())["status"] not in ("done", "failed"):
                time.sleep(0.5)
    finally:
        stack.stop()
    print(
        f"a {size_mib} MiB file, parts of {PART_BYTES // MIB} MiB, {PARALLEL_PARTS} at a time, "
        f"best of {repeat}"
    )
    print(f"straight to MinIO (boto3 multipart): {direct_s:7.2f} s  {size_mib / direct_s:8.1f} MiB/s")
    print(f"through the site's protocol:         {site_s:7.2f} s  {size_mib / site_s:8.1f} MiB/s")
    print(f"ratio site / direct (throughput):    {direct_s / site_s:7.2f} (goal >= {GOAL_RATIO})")
    print(f"frontend RSS growth during the uploads (most): {upload_growth:6.1f} MiB (goal < {GOAL_MIB})")
    print(f"its job: {job['status']} {job.get('error') or ''}")


if __name__ == "__main__":
    app()
