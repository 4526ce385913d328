"""Image jobs through the whole pipeline against a plain Pillow loop making the same renditions,
with the CPU each process of the stack spends per job, its idle cost, and the dispatch latency.

    .venv/bin/python -m bench.images                               # 40 jobs, 1 worker, private stack
    .venv/bin/python -m bench.images --jobs 40 --workers 2
    .venv/bin/python -m bench.images --profile .state/profile      # + py-spy and JFR (bench/profile.py)
    .venv/bin/python -m bench.images --url http://127.0.0.1:8000   # against `make run`: wall time only

Phases (private stack): the plain loop; the stack idle for `--idle-s`; `--jobs` uploads, 3 at a time,
timed from the first upload to the last job's own `updated_at`, the client asking for one listing
every half second (never one request per job); then `--dispatch-jobs` small images one at a time, each
followed on its live event stream until done, so the worker is idle when each `202` comes back: the
workers' own `WorkTimed.queue_wait_s` (request's `occurred_at` to the start of work) is the dispatch
latency. CPU is utime + stime from /proc for every process of the stack (bench/cpu.py).

Prints figures, ratios and the goals of issue #18; never fails on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
import typer
from aiokafka import TopicPartition
from pydantic import ValidationError

from bench import cpu
from infra.local.stack import REPO_ROOT, LocalStack, StackConfig
from services.reencoder.image_encoder import encode_image
from shared.events import ALL_TOPICS, METRICS_WORK, WorkTimed
from shared.kafka.clients import kafka_consumer
from shared.settings import KafkaSettings
from tests.api_client import sign_up
from tests.media_samples import image_bytes

app = typer.Typer(add_completion=False)

#: Seconds between the benchmark client's listing requests while it waits for its jobs.
LISTING_INTERVAL_S = 0.5


def plain_loop(images: list[bytes], max_pixels: int) -> tuple[float, float]:
    """(wall, CPU) seconds for this process to make every rendition of every image, nothing else."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        started, started_cpu = time.perf_counter(), time.process_time()
        for index, data in enumerate(images):
            source = root / f"{index}.jpg"
            source.write_bytes(data)
            encode_image(source, root / f"out-{index}", max_pixels)
        return time.perf_counter() - started, time.process_time() - started_cpu


#: Uploads sent at once: a user may have 3 in flight (ACCOUNTS_UPLOADS_IN_FLIGHT_PER_USER).
PARALLEL_UPLOADS = 3


def upload(http: httpx.Client, data: bytes) -> str:
    """Upload one image; a 429 is waited out as its `Retry-After` says, as a polite client does."""
    while True:
        response = http.post("/api/uploads", files={"file": ("bench.jpg", data, "image/jpeg")})
        if response.status_code != 429:
            break
        time.sleep(float(response.headers.get("Retry-After", "1")))
    response.raise_for_status()
    job_id: str = response.json()["job_id"]
    return job_id


def through_pipeline(http: httpx.Client, images: list[bytes]) -> tuple[float, list[str]]:
    """Seconds from the first upload to the last job done (by the job's own `updated_at`), and the ids.

    The client waits as a person's page would: one listing of all its jobs every half second. The
    end time comes from the jobs themselves, so the listing's interval does not round the figure.
    """
    started = time.time()
    with ThreadPoolExecutor(PARALLEL_UPLOADS) as pool:
        job_ids = list(pool.map(lambda data: upload(http, data), images))
    pending, finished_at = set(job_ids), started
    while pending:
        time.sleep(LISTING_INTERVAL_S)
        for job in http.get("/api/jobs", params={"limit": 100}).json()["jobs"]:
            if job["job_id"] not in pending:
                continue
            if job["status"] == "failed":
                raise SystemExit(f"job {job['job_id']} failed: {job['error']}")
            if job["status"] == "done":
                pending.discard(job["job_id"])
                finished_at = max(finished_at, datetime.fromisoformat(job["updated_at"]).timestamp())
    return finished_at - started, job_ids


def one_at_a_time(http: httpx.Client, images: list[bytes]) -> dict[str, float]:
    """Upload each image once the previous job is done, following it on its live event stream.

    Returns when each `202` came back (epoch seconds, this machine's clock, as the services')."""
    accepted: dict[str, float] = {}
    for data in images:
        job_id = upload(http, data)
        accepted[job_id] = time.time()
        with http.stream("GET", f"/api/jobs/{job_id}/events", timeout=120) as events:
            for line in events.iter_lines():
                if line.startswith("data:") and ('"status":"done"' in line or '"status":"failed"' in line):
                    break
    return accepted


async def work_timings(
    kafka: KafkaSettings, job_ids: set[str], timeout_s: float = 60
) -> dict[str, WorkTimed]:
    """The workers' `WorkTimed` events for `job_ids`, read from `metrics.work`."""
    consumer = kafka_consumer(kafka, group_id=None)
    await consumer.start()
    found: dict[str, WorkTimed] = {}
    try:
        partitions = [TopicPartition(METRICS_WORK.name, p) for p in range(METRICS_WORK.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while len(found) < len(job_ids) and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    try:
                        timed = WorkTimed.model_validate_json(record.value or b"")
                    except ValidationError:
                        continue
                    if timed.job_id in job_ids:
                        found[timed.job_id] = timed
        return found
    finally:
        await consumer.stop()


async def messages_so_far(kafka: KafkaSettings) -> dict[str, int]:
    """Records written so far to each topic of the catalogue (the sum of its partitions' end offsets)."""
    consumer = kafka_consumer(kafka, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic.name, p) for topic in ALL_TOPICS for p in range(topic.partitions)]
        ends = await consumer.end_offsets(partitions)
        totals: dict[str, int] = {}
        for tp, end in ends.items():
            totals[tp.topic] = totals.get(tp.topic, 0) + end
        return totals
    finally:
        await consumer.stop()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def print_cpu_table(
    per_job: dict[str, float], idle_per_min: dict[str, float], encoder_per_job: float
) -> None:
    print("\n| process | CPU s per job | % of encoder CPU per job | idle CPU s per minute |")
    print("|---|---:|---:|---:|")
    for name in sorted(per_job.keys() | idle_per_min.keys(), key=lambda n: -per_job.get(n, 0.0)):
        share = 100 * per_job.get(name, 0.0) / encoder_per_job if encoder_per_job else 0.0
        print(
            f"| {name} | {per_job.get(name, 0.0):.3f} | {share:.1f} % | {idle_per_min.get(name, 0.0):.2f} |"
        )


def idle_stack(http: httpx.Client, idle_s: float, profile: Path | None) -> dict[str, float]:
    """CPU seconds per role of the warmed-up stack doing nothing for `idle_s` (profiled into
    `profile/idle` when asked: what wakes up when no one asks for anything)."""
    # One job first, so workers have joined and every service has warmed up before measuring.
    one_at_a_time(http, [image_bytes(640, 480, "JPEG")])
    time.sleep(5)
    profiler = None
    if profile is not None:
        from bench.profile import Profiler

        profiler = Profiler(profile / "idle")
        profiler.start()
    idle_before = cpu.sample()
    time.sleep(idle_s)
    idle = without_profilers(cpu.difference(cpu.sample(), idle_before))
    if profiler is not None:
        profiler.stop()
    return idle


def without_profilers(seconds_by_role: dict[str, float]) -> dict[str, float]:
    """The stack's own CPU: py-spy's samplers (children of the bench when profiling) left out."""
    return {role: seconds for role, seconds in seconds_by_role.items() if role != "py-spy"}


def print_idle(idle: dict[str, float], idle_s: float) -> None:
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    print(f"\nidle CPU s per minute (load average {load}):")
    print("| process | idle CPU s per minute |")
    print("|---|---:|")
    for name, seconds in sorted(idle.items(), key=lambda item: -item[1]):
        print(f"| {name} | {seconds * 60 / idle_s:.2f} |")
    print(
        f"idle stack: {sum(idle.values()) * 60 / idle_s:.2f} CPU s per minute"
        f" = {100 * sum(idle.values()) / idle_s:.1f} % of one core"
    )


@contextlib.contextmanager
def private_site(workers: int) -> Iterator[tuple[StackConfig, httpx.Client]]:
    """A private stack with `workers` reencoders in a fresh state folder, and a signed-up client."""
    state = Path(tempfile.mkdtemp(prefix="bench-"))
    config = StackConfig.on_free_ports(state, REPO_ROOT / ".state" / "cache")
    config.reencoders = workers
    stack = LocalStack(config)
    try:
        stack.start_infrastructure()
        stack.start_services()
        with httpx.Client(base_url=config.frontend_url, timeout=60) as http:
            sign_up(http)
            yield config, http
    finally:
        stack.stop()


def measure_idle_only(workers: int, idle_s: float, profile: Path | None) -> None:
    """`--idle-only`: start the private stack, measure it idle, stop."""
    with private_site(workers) as (_, http):
        idle = idle_stack(http, idle_s, profile)
    print_idle(idle, idle_s)


@app.command()
def main(
    jobs: int = typer.Option(40, max=100, help="How many images (one listing page follows them all)."),
    workers: int = typer.Option(1, help="Worker processes of the private stack."),
    width: int = 2400,
    height: int = 1600,
    idle_s: float = typer.Option(30.0, help="Seconds the idle stack is measured."),
    dispatch_jobs: int = typer.Option(30, help="Small images sent one at a time for dispatch latency."),
    profile: Path | None = typer.Option(None, help="Folder for py-spy and JFR profiles of the run."),
    url: str | None = typer.Option(None, help="Use a running site instead of a private stack."),
    idle_only: bool = typer.Option(False, help="Measure (and profile) the idle stack only, then stop."),
) -> None:
    if idle_only:
        measure_idle_only(workers, idle_s, profile)
        return
    images = [image_bytes(width + i, height, "JPEG") for i in range(jobs)]
    max_pixels = 100_000_000
    print(f"{jobs} JPEG images of {width}x{height}, every rendition of the ladder each")
    plain, plain_cpu = plain_loop(images, max_pixels)
    print(
        f"plain Pillow loop, 1 process:  {plain:7.2f} s  {jobs / plain:6.2f} jobs/s  ({plain_cpu:.2f} CPU s)"
    )
    if url is not None:
        with httpx.Client(base_url=url, timeout=60) as http:
            sign_up(http)
            piped, _ = through_pipeline(http, images)
        print(f"pipeline (running site):        {piped:7.2f} s  {jobs / piped:6.2f} jobs/s")
        print(f"ratio pipeline / plain loop:    {piped / plain:7.2f}")
        return

    with private_site(workers) as (config, http):
        idle = idle_stack(http, idle_s, profile)

        profiler = None
        if profile is not None:
            from bench.profile import Profiler

            profiler = Profiler(profile / "run")
            profiler.start()
        messages_before = asyncio.run(messages_so_far(config.kafka))
        before = cpu.sample()
        piped, _ = through_pipeline(http, images)
        run_cpu = without_profilers(cpu.difference(cpu.sample(), before))
        load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
        messages = cpu.difference(
            {k: float(v) for k, v in asyncio.run(messages_so_far(config.kafka)).items()},
            {k: float(v) for k, v in messages_before.items()},
        )
        if profiler is not None:
            profiler.stop()

        small = [image_bytes(320 + i, 240, "JPEG") for i in range(dispatch_jobs)]
        dispatched = one_at_a_time(http, small)
        timings = asyncio.run(work_timings(config.kafka, set(dispatched)))

    print(f"{f'pipeline, {workers} worker(s):':<31} {piped:7.2f} s  {jobs / piped:6.2f} jobs/s")
    print(f"ratio pipeline / plain loop:    {piped / plain:7.2f}")

    per_job = {name: seconds / jobs for name, seconds in run_cpu.items() if seconds > 0}
    idle_per_min = {name: seconds * 60 / idle_s for name, seconds in idle.items() if seconds > 0}
    encoder = per_job.get("encoding children", 0.0)
    print(f"\nCPU per job: the plain loop {plain_cpu / jobs:.3f} s; in the pipeline (load average {load}):")
    print_cpu_table(per_job, idle_per_min, encoder)
    machinery = sum(seconds for name, seconds in per_job.items() if name != "encoding children")
    idle_core = sum(idle.values()) / idle_s
    share = 100 * machinery / encoder if encoder else float("nan")
    print(f"\nall but the encoder: {machinery:.3f} CPU s per job = {share:.0f} % of the encoder's")
    print(
        f"idle stack: {sum(idle_per_min.values()):.2f} CPU s per minute = {100 * idle_core:.1f} % of one core"
    )

    print("\n| topic | messages per job |")
    print("|---|---:|")
    for topic, count in sorted(messages.items(), key=lambda item: -item[1]):
        if count > 0:
            print(f"| `{topic}` | {count / jobs:.2f} |")
    print(f"| all | {sum(messages.values()) / jobs:.2f} |")

    # The worker's own clock: it started `busy_s` (download, encode, upload) before its timing event.
    # The request's own clock: `queue_wait_s` runs from the JobRequested event, built before the
    # original is stored, so it also holds the frontend's write to storage.
    after_202_ms = [
        (timed.occurred_at.timestamp() - timed.busy_s - dispatched[job_id]) * 1000
        for job_id, timed in timings.items()
    ]
    waits_ms = [timed.queue_wait_s * 1000 for timed in timings.values()]
    if waits_ms:
        p50, p99 = percentile(after_202_ms, 0.5), percentile(after_202_ms, 0.99)
        print(
            f"\ndispatch, 202 to the worker starting ({len(waits_ms)} jobs one at a time):"
            f" p50 {p50:.1f} ms, p99 {p99:.1f} ms, mean {statistics.mean(after_202_ms):.1f} ms"
        )
        print(
            f"request event to the worker starting (queue_wait_s, includes storing the original):"
            f" p50 {percentile(waits_ms, 0.5):.1f} ms, p99 {percentile(waits_ms, 0.99):.1f} ms"
        )
    else:
        p50 = p99 = float("nan")
        print("\ndispatch: no WorkTimed events found for the one-at-a-time jobs")

    print("\n| goal | figure | met |")
    print("|---|---:|---|")
    goals = [
        (
            "pipeline / plain loop <= 1.10 (1 worker)",
            f"{piped / plain:.2f}",
            piped / plain <= 1.10 and workers == 1,
        ),
        (
            "all but the encoder < 10 % of its CPU per job",
            f"{100 * machinery / encoder:.0f} %",
            machinery < 0.1 * encoder,
        ),
        ("idle stack < 3 % of one core", f"{100 * idle_core:.1f} %", idle_core < 0.03),
        ("dispatch p50 < 10 ms", f"{p50:.1f} ms", p50 < 10),
        ("dispatch p99 < 50 ms", f"{p99:.1f} ms", p99 < 50),
    ]
    for goal, figure, met in goals:
        print(f"| {goal} | {figure} | {'yes' if met else 'no'} |")


if __name__ == "__main__":
    app()
