"""Image jobs through the whole pipeline against a plain Pillow loop making the same renditions.

    .venv/bin/python -m bench.images --jobs 40 --workers 2        # starts a private stack
    .venv/bin/python -m bench.images --url http://127.0.0.1:8000  # against `make run`

Prints wall times, throughput and the ratio pipeline / plain loop. Never fails on time.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import typer

from infra.local.stack import REPO_ROOT, LocalStack, StackConfig
from services.reencoder.image_encoder import encode_image
from tests.api_client import sign_up
from tests.media_samples import image_bytes

app = typer.Typer(add_completion=False)


def plain_loop(images: list[bytes], max_pixels: int) -> float:
    """Seconds for one process to make every rendition of every image, nothing else."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        for index, data in enumerate(images):
            source = root / f"{index}.jpg"
            source.write_bytes(data)
            encode_image(source, root / f"out-{index}", max_pixels)
        return time.perf_counter() - started


def through_pipeline(url: str, images: list[bytes]) -> float:
    """Seconds from the first upload to the last job done, uploading 8 at a time."""
    with httpx.Client(base_url=url, timeout=60) as http:
        sign_up(http)

        def upload(data: bytes) -> str:
            response = http.post("/api/uploads", files={"file": ("bench.jpg", data, "image/jpeg")})
            response.raise_for_status()
            job_id: str = response.json()["job_id"]
            return job_id

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            pending = set(pool.map(upload, images))
        # One listing request per tick for every job (the bench user's own): polling each job
        # separately would load the site with hundreds of requests per second of its own making.
        while pending:
            listing = http.get("/api/jobs", params={"limit": 100}).json()["jobs"]
            for job in listing:
                if job["job_id"] in pending and job["status"] == "failed":
                    raise SystemExit(f"job {job['job_id']} failed: {job['error']}")
                if job["status"] == "done":
                    pending.discard(job["job_id"])
            time.sleep(0.1)
        return time.perf_counter() - started


@app.command()
def main(
    jobs: int = typer.Option(40, max=100, help="How many images (one listing page follows them all)."),
    workers: int = typer.Option(2, help="Worker processes of the private stack."),
    width: int = 2400,
    height: int = 1600,
    url: str | None = typer.Option(None, help="Use a running site instead of a private stack."),
) -> None:
    images = [image_bytes(width + i, height, "JPEG") for i in range(jobs)]
    max_pixels = 100_000_000
    print(f"{jobs} JPEG images of {width}x{height}, four renditions each")
    plain = plain_loop(images, max_pixels)
    print(f"plain Pillow loop, 1 process:  {plain:7.2f} s  {jobs / plain:6.2f} jobs/s")

    stack = None
    if url is None:
        state = Path(tempfile.mkdtemp(prefix="bench-"))
        config = StackConfig.on_free_ports(state, REPO_ROOT / ".state" / "cache")
        config.reencoders = workers
        stack = LocalStack(config)
        stack.start_infrastructure()
        stack.start_services()
        url = config.frontend_url
        time.sleep(5)  # let the workers join their group before timing
    try:
        piped = through_pipeline(url, images)
    finally:
        if stack is not None:
            stack.stop()
    label = f"pipeline, {workers} workers:" if stack else "pipeline (running site):"
    print(f"{label:<31} {piped:7.2f} s  {jobs / piped:6.2f} jobs/s")
    print(f"ratio pipeline / plain loop:    {piped / plain:7.2f}")


if __name__ == "__main__":
    app()
