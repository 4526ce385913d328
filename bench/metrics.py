"""Metrics: how fast the metrics service folds events, and what emitting them costs a request.

    .venv/bin/python -m bench.metrics                       # starts a private stack
    .venv/bin/python -m bench.metrics --events 200000 --requests 3000

1. Throughput. `--events` RequestObserved events are written to `metrics.requests`, then read three
   ways from the same topic: a bare aiokafka consumer that only counts records, the same consumer
   decoding each record into its pydantic model, and the metrics service's own reader folding each
   into its rolling windows and sketches (`MetricStreamReader` + `Aggregator`, the code the service
   runs). The clock runs from the first batch to the last, so joining a group is not counted.
2. Request latency. The frontend answers `--requests` sequential GETs with metric emission on and
   off (`FRONTEND_METRIC_EVENTS`), alternating runs, on the same stack (the metrics service stopped in
   both, so its work on the events does not share the cores with the frontend being measured).

Prints figures and ratios; never fails on time.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import typer
from aiokafka import AIOKafkaProducer, TopicPartition
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from infra.local.stack import REPO_ROOT, LocalStack, StackConfig
from services.frontend.middleware.telemetry import MetricEventSettings, TelemetryMiddleware
from services.metrics.aggregator import Aggregator
from services.metrics.stream import MetricStreamReader
from shared.events import METRICS_REQUESTS, RequestObserved, new_id
from shared.kafka import EventProducer
from shared.kafka.clients import kafka_consumer
from shared.settings import KafkaSettings
from tests.api_client import sign_up

app = typer.Typer(add_completion=False)

PATHS = ("/healthz", "/api/jobs?limit=5")


class Timing(NamedTuple):
    """One read of the topic: wall seconds, and this process's CPU seconds (what load barely moves)."""

    wall: float
    cpu: float


def best(runs: list[Timing]) -> Timing:
    return min(runs, key=lambda timing: timing.cpu)


ROUTES = ["/api/jobs", "/api/jobs/{job_id}", "/api/uploads", "/media/{job_id}/{name}", "/", "/healthz"]


async def produce(kafka: KafkaSettings, events: int) -> None:
    """Write `events` varied request events, as a busy frontend would."""
    rng = random.Random(7)
    templates = [
        RequestObserved(
            correlation_id=new_id(),
            service="bench",
            instance_id="bench-1",
            method="GET",
            route=rng.choice(ROUTES),
            status=rng.choice([200] * 30 + [404, 500]),
            latency_ms=rng.lognormvariate(3, 1),
            bytes_out=rng.randrange(100, 100_000),
        )
        for _ in range(2000)
    ]
    values = [event.model_dump_json().encode() for event in templates]
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, acks=1, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        pending = []
        for index in range(events):
            pending.append(
                await producer.send(
                    METRICS_REQUESTS.name, values[index % len(values)], key=str(index).encode()
                )
            )
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def bare_consumer(kafka: KafkaSettings, events: int, decode: bool) -> Timing:
    """Seconds (wall, CPU) from the first batch to the `events`-th record for a plain consumer (no group)."""
    consumer = kafka_consumer(kafka, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(METRICS_REQUESTS.name, p) for p in range(METRICS_REQUESTS.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen, first, first_cpu = 0, 0.0, 0.0
        while seen < events:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if batch and not first:
                first, first_cpu = time.perf_counter(), time.process_time()
            for records in batch.values():
                if decode:
                    for record in records:
                        RequestObserved.model_validate_json(record.value)
                seen += len(records)
        return Timing(time.perf_counter() - first, time.process_time() - first_cpu)
    finally:
        await consumer.stop()


async def metrics_reader(kafka: KafkaSettings, events: int) -> Timing:
    """Seconds (wall, CPU) from the first batch to the `events`-th event folded into the windows."""
    aggregator = Aggregator()
    marks: dict[str, float] = {}
    done = asyncio.Event()

    def on_batch(_count: int) -> None:
        if "first" not in marks:
            marks["first"], marks["first_cpu"] = time.perf_counter(), time.process_time()
        if aggregator.events >= events:
            marks["last"], marks["last_cpu"] = time.perf_counter(), time.process_time()
            done.set()

    async with EventProducer(kafka, client_id="bench") as producer:
        reader = MetricStreamReader(
            kafka,
            group_id=f"bench-metrics-{new_id()[:8]}",
            client_id="bench-metrics",
            aggregator=aggregator,
            producer=producer,
            rewind_s=3600,
            on_batch=on_batch,
        )
        run = asyncio.create_task(reader.run())
        await done.wait()
        reader.stop()
        await run
    return Timing(marks["last"] - marks["first"], marks["last_cpu"] - marks["first_cpu"])


def request_latencies(url: str, requests: int, path: str) -> list[float]:
    """Milliseconds for each of `requests` sequential GETs of `path` (after a warm-up)."""
    with httpx.Client(base_url=url, timeout=30) as http:
        sign_up(http)
        for _ in range(50):
            http.get(path).raise_for_status()
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            http.get(path).raise_for_status()
            timings.append((time.perf_counter() - started) * 1000)
        return timings


def with_frontend(
    stack: LocalStack, emission: bool, paths: tuple[str, ...], requests: int
) -> dict[str, list[float]]:
    """Latencies per path from a frontend started with metric emission on or off."""
    stack.config.service_env["FRONTEND_METRIC_EVENTS"] = "true" if emission else "false"
    stack.start_services(reencoders=0)
    # The metrics service would fold the events on the same two cores: stopped in both runs, so the
    # difference is what emission costs the frontend itself.
    stack.stop_service("metrics")
    try:
        return {path: request_latencies(stack.config.frontend_url, requests, path) for path in paths}
    finally:
        stack.stop_services()


async def middleware_cpu_us(kafka: KafkaSettings, requests: int, emission: bool) -> float:
    """CPU microseconds per request of a one-route app behind the telemetry middleware, in process.

    CPU time of this thread (not wall time) barely moves when other processes load the machine, so
    this isolates what the middleware and the emitter's background flush cost each request.
    """
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "ok"}

    middleware = TelemetryMiddleware(
        app,
        kafka,
        "bench-frontend",
        settings=MetricEventSettings(metric_events=emission),
        registry=CollectorRegistry(),
    )
    await middleware.emitter.start()
    for _ in range(600):  # measure sending, not queueing while the producer connects
        if not emission or middleware.emitter.connected:
            break
        await asyncio.sleep(0.1)
    try:
        transport = httpx.ASGITransport(app=middleware)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _ in range(200):
                await client.get("/ping")
            started = time.thread_time()
            for _ in range(requests):
                await client.get("/ping")
            await asyncio.sleep(0.5)  # let the flush task send what the requests queued, on the clock
            cpu_us = (time.thread_time() - started) * 1e6 / requests
            if emission and middleware.emitter.sent < requests:
                raise SystemExit(f"only {middleware.emitter.sent} of {requests} events were sent")
            return cpu_us
    finally:
        await middleware.emitter.stop()


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1]


@app.command()
def main(
    events: int = typer.Option(100_000, help="Metric events to write and read."),
    requests: int = typer.Option(2000, help="Sequential requests per latency run."),
    rounds: int = typer.Option(2, help="Alternating on/off latency runs of each kind."),
    repeat: int = typer.Option(3, help="Reads of the topic by each reader (best CPU time is shown)."),
    latency: bool = typer.Option(True, help="Also measure what emitting events costs the frontend."),
) -> None:
    with tempfile.TemporaryDirectory() as state:
        config = StackConfig.on_free_ports(Path(state), REPO_ROOT / ".state" / "cache")
        stack = LocalStack(config)
        try:
            stack.start_infrastructure()
            kafka = config.kafka
            asyncio.run(produce(kafka, events))
            readers: dict[str, Callable[[], Coroutine[Any, Any, Timing]]] = {
                "bare aiokafka consumer, count only": lambda: bare_consumer(kafka, events, decode=False),
                "bare consumer + pydantic decode": lambda: bare_consumer(kafka, events, decode=True),
                "metrics service reader (decode, windows, sketches)": lambda: metrics_reader(kafka, events),
            }
            # Alternating repeats, best of each by CPU: other processes on the machine move wall time.
            runs: dict[str, list[Timing]] = {name: [] for name in readers}
            for _ in range(repeat):
                for name, read in readers.items():
                    runs[name].append(asyncio.run(read()))
            bare = best(runs["bare aiokafka consumer, count only"])
            print(f"\nThroughput over {events:,} events in metrics.requests (best CPU of {repeat})")
            print("| reader | wall s | CPU s | events per CPU s | CPU / bare | rate vs bare |")
            print("|---|---:|---:|---:|---:|---:|")
            for name in readers:
                timing = best(runs[name])
                print(
                    f"| {name} | {timing.wall:.2f} | {timing.cpu:.2f} | {events / timing.cpu:,.0f} |"
                    f" {timing.cpu / bare.cpu:.2f} | {bare.cpu / timing.cpu:.2f}x |"
                )
            if not latency:
                return

            cpu = {
                emission: asyncio.run(middleware_cpu_us(kafka, requests * 4, emission))
                for emission in (False, True)
            }
            print("\nIn process, CPU per request (one-route app behind the telemetry middleware)")
            print("| emission | CPU µs / request | on / off |")
            print("|---|---:|---:|")
            for emission in (False, True):
                ratio = cpu[emission] / cpu[False]
                print(f"| {'on' if emission else 'off'} | {cpu[emission]:.0f} | {ratio:.2f} |")

            timings: dict[bool, dict[str, list[float]]] = {True: {}, False: {}}
            for _ in range(rounds):
                for emission in (False, True):
                    for path, measured in with_frontend(stack, emission, PATHS, requests).items():
                        timings[emission].setdefault(path, []).extend(measured)
            print(f"\nFrontend latency, {requests * rounds} sequential GETs per row")
            print("| path | emission | mean ms | p50 ms | p95 ms | on / off (mean) |")
            print("|---|---|---:|---:|---:|---:|")
            for path in timings[True]:
                off_mean = statistics.mean(timings[False][path])
                for emission in (False, True):
                    values = timings[emission][path]
                    mean = statistics.mean(values)
                    print(
                        f"| `{path}` | {'on' if emission else 'off'} | {mean:.2f} | {pct(values, 0.5):.2f} |"
                        f" {pct(values, 0.95):.2f} | {mean / off_mean:.3f} |"
                    )
        finally:
            stack.stop()


if __name__ == "__main__":
    app()
