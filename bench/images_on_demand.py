"""Image sizes on demand (`/img/...`, issue #16): requests per second on cached variants, and what a
miss costs against a plain Pillow resize of the same source.

    .venv/bin/python -m bench.images_on_demand            # private stack, one worker
    .venv/bin/python -m bench.images_on_demand --requests 1000 --misses 12

A 3000x2000 photo-like JPEG (grain over gradients) goes through the pipeline. Then:
- cached: one variant is asked for once (a miss), then `--requests` times, by one client and by
  `--clients` clients at once; each answer is one storage read behind a signature check.
- miss: `--misses` distinct widths, each asked for twice per format (WebP, AVIF; two qualities, so
  both are misses; the better time kept), timed end to end
  (HTTP, the source read from storage, decode, resize, encode, the write to storage), against the
  same decode + resize + encode done by Pillow in this process on the same source bytes (best of 2).
Figures only: nothing here fails on time.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import typer
from PIL import Image

from infra.local.stack import REPO_ROOT, LocalStack, StackConfig
from tests.api_client import sign_up

app = typer.Typer(add_completion=False)

CHROME_ACCEPT = "image/avif,image/webp,image/apng,image/*,*/*;q=0.8"
PILLOW_OPTIONS: dict[str, dict[str, object]] = {"webp": {"method": 4}, "avif": {"speed": 9}}


def photo_like(width: int = 3000, height: int = 2000) -> bytes:
    """A JPEG that compresses like a photo: gradients under grain (a flat sample compresses to a few
    KiB, and its decode would cost nothing)."""
    grain = [Image.effect_noise((width, height), sigma) for sigma in (10, 15, 20)]
    gradient = Image.linear_gradient("L").resize((width, height))
    channels = [Image.blend(noise, gradient, 0.5) for noise in grain]
    buffer = io.BytesIO()
    Image.merge("RGB", channels).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def upload_photo(http: httpx.Client) -> str:
    sign_up(http)
    response = http.post("/api/uploads", files={"file": ("bench.jpg", photo_like(), "image/jpeg")})
    response.raise_for_status()
    job_id: str = response.json()["job_id"]
    while (job := http.get(f"/api/jobs/{job_id}").json())["status"] not in ("done", "failed"):
        time.sleep(0.2)
    assert job["status"] == "done", job["error"]
    return job_id


def signed(http: httpx.Client, job_id: str, **params: str | int) -> str:
    response = http.get(f"/api/jobs/{job_id}/image-url", params=params)
    response.raise_for_status()
    url: str = response.json()["url"]
    return url


def cached_rps(url: str, requests: int, clients: int) -> float:
    """Requests per second for `url`, already cached, from `clients` clients at once."""

    def run(count: int) -> None:
        with httpx.Client(timeout=60) as client:
            for _ in range(count):
                client.get(url, headers={"Accept": CHROME_ACCEPT}).raise_for_status()

    share = requests // clients
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(run, share) for _ in range(clients)]:
            future.result()
    return share * clients / (time.perf_counter() - started)


def pillow_resize_s(source: bytes, width: int, format_: str) -> float:
    """The same work done by Pillow alone: decode, resize (LANCZOS), encode at q80."""
    started = time.perf_counter()
    with Image.open(io.BytesIO(source)) as image:
        image.load()
        height = round(image.height * width / image.width)
        resized = image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    resized.save(io.BytesIO(), format=format_.upper(), quality=80, **PILLOW_OPTIONS[format_])
    return time.perf_counter() - started


def miss_costs(
    http: httpx.Client, job_id: str, source: bytes, misses: int, format_: str
) -> tuple[float, float]:
    """(median seconds of a /img miss, median seconds of the plain Pillow resize) over `misses` widths."""
    site, plain = [], []
    for index in range(misses):
        width = 400 + 37 * index  # distinct sizes: every one a miss
        tries = []
        for quality in (80, 79):  # two misses of the same size (the quality is in the cache key)
            url = signed(http, job_id, w=width, q=quality, f=format_)
            started = time.perf_counter()
            http.get(url).raise_for_status()
            tries.append(time.perf_counter() - started)
        # Best of two on both sides: the host is shared, and a slice lost to another process is noise.
        site.append(min(tries))
        plain.append(min(pillow_resize_s(source, width, format_) for _ in range(2)))
    return statistics.median(site), statistics.median(plain)


@app.command()
def main(
    requests: int = typer.Option(600, help="Cached requests per measurement."),
    clients: int = typer.Option(8, help="Concurrent clients for the parallel measurement."),
    misses: int = typer.Option(8, help="Distinct sizes encoded per format."),
) -> None:
    state = Path(tempfile.mkdtemp(prefix="bench-img-"))
    config = StackConfig.on_free_ports(state, REPO_ROOT / ".state" / "cache")
    config.reencoders = 1
    stack = LocalStack(config)
    try:
        stack.start_infrastructure()
        stack.start_services()
        with httpx.Client(base_url=config.frontend_url, timeout=120, follow_redirects=True) as http:
            job_id = upload_photo(http)
            source = http.get(f"/media/{job_id}/large").content  # what /img resizes from
            url = signed(http, job_id, w=640, f="auto")
            http.get(url, headers={"Accept": CHROME_ACCEPT}).raise_for_status()  # the one miss
            serial = cached_rps(url, requests, 1)
            parallel = cached_rps(url, requests, clients)
            costs = {
                format_: miss_costs(http, job_id, source, misses, format_) for format_ in ("webp", "avif")
            }
    finally:
        stack.stop()
    print(
        f"cached variant (640 px AVIF, {len(source)} B source): {serial:7.1f} req/s from 1 client, "
        f"{parallel:7.1f} req/s from {clients}"
    )
    for format_, (site_s, plain_s) in costs.items():
        print(
            f"miss, {format_:4}: /img {site_s * 1000:7.1f} ms  Pillow alone {plain_s * 1000:7.1f} ms  "
            f"ratio {site_s / plain_s:5.2f}x  (median over {misses} sizes of the best of 2)"
        )


if __name__ == "__main__":
    app()
