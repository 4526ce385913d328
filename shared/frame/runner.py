"""The one frame that runs every service: producer, supervised consumers, heartbeats, HTTP, signals.

A service hands `run_service` its declaration, its configuration and a `setup`: an async context
manager that opens what the service needs (storage, database, its handlers) and yields a `Wiring`
that binds each declared consumer entry to a handler, adds its own long-running loops and, for an
HTTP service, its routes. The frame then runs all of it until SIGINT or SIGTERM, or until one part
dies:

- every consumer, loop and the HTTP server run under one `asyncio.TaskGroup`; one that dies is
  logged as such, the others are stopped gracefully and the process exits with status 1, so its
  supervisor (compose's `restart:`, the local stack) starts it again: never silently gone;
- a graceful stop stops taking work, lets consumers finish (or hand back) the record in hand and
  commit, sends a farewell heartbeat, then closes the producer and the service's resources.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import uvicorn
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from shared.frame.config import MetricsEndpointSettings, ServiceConfig
from shared.frame.consumer_metrics import ConsumerCollector
from shared.frame.declaration import Binding, ServiceDeclaration, shared_consumers
from shared.frame.problems import install_problem_responses
from shared.frame.telemetry import ServiceIdentity, heartbeating, package_version
from shared.kafka.consumer import EventConsumer, RetryPolicy
from shared.kafka.producer import EventProducer
from shared.logs import configure_logging

log = logging.getLogger(__name__)


class Stoppable(Protocol):
    """Long-running work that stops gracefully when asked (a consumer loop, a stream reader)."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Runtime:
    """What the frame opened before the service's setup runs."""

    identity: ServiceIdentity
    producer: EventProducer
    #: The HTTP app (with /healthz and /metrics already routed) for a service that serves HTTP.
    app: FastAPI | None


@dataclass
class Wiring:
    """What a service's setup hands the frame to run."""

    #: One per declared `Consumes` entry the frame's consumer loop runs (`entry.handled_by(...)`).
    bindings: list[Binding[Any]] = field(default_factory=list)
    #: The service's own loops that stop when asked (stream readers).
    workers: list[Stoppable] = field(default_factory=list)
    #: Loops that run until cancelled (periodic looks, tickers), by name.
    tasks: dict[str, Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=dict)
    #: What GET /metrics exposes.
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    #: How the consumer loop retries a failing handler, and how long a stopping one may finish.
    retry: RetryPolicy | None = None
    shutdown_grace_s: float = 30.0


Setup = Callable[[Runtime], contextlib.AbstractAsyncContextManager[Wiring]]


class ServiceFailed(Exception):
    """A supervised part of the service died; the process exits non-zero so it is restarted."""


class Health(BaseModel):
    """`GET /healthz`: this process is up; which service and instance answered."""

    status: str = "ok"
    service: str
    instance: str


def run_service(declaration: ServiceDeclaration, config: ServiceConfig, setup: Setup) -> None:
    """The entry point of every service's `main()`: run until a signal, exit 1 if a part died."""
    configure_logging(declaration.name)
    try:
        asyncio.run(serve(declaration, config, setup))
    except ServiceFailed as failure:
        log.critical("%s stopped because a part of it died: %s", declaration.name, failure)
        raise SystemExit(1) from None


async def serve(declaration: ServiceDeclaration, config: ServiceConfig, setup: Setup) -> None:
    """Run the service in this event loop until SIGINT/SIGTERM (or one of its parts dies)."""
    identity = ServiceIdentity(
        declaration.name,
        config.instance.resolve(declaration.name),
        consumes=declaration.consumed_topics,
        produces=declaration.produced_topics,
    )
    stopping = asyncio.Event()
    with stop_on_signals(stopping.set):
        async with EventProducer(config.kafka, client_id=identity.instance_id) as producer:
            holder: list[CollectorRegistry] = []
            # A worker (no HTTP of its own) serves /metrics and /healthz alone, when a port is set.
            metrics_only = not declaration.http and config.metrics_endpoint.port != 0
            app = _http_app(declaration, identity, holder) if declaration.http or metrics_only else None
            runtime = Runtime(identity, producer, app if declaration.http else None)
            async with setup(runtime) as wiring:
                declaration.check_bindings(wiring.bindings)
                holder.append(wiring.registry)
                consumers = _consumers(wiring, config, producer, identity)
                server = None
                if app is not None:
                    server = (
                        _metrics_server(app, config.metrics_endpoint)
                        if metrics_only
                        else _http_server(app, config)
                    )
                with _consumer_metrics(wiring, consumers):
                    async with heartbeating(producer, identity, config.telemetry):
                        await _supervise(consumers, wiring, server, stopping)


async def _supervise(
    consumers: dict[str, EventConsumer],
    wiring: Wiring,
    server: uvicorn.Server | None,
    stopping: asyncio.Event,
) -> None:
    """Run every part under one TaskGroup; the first to die (or a signal) stops them all gracefully."""
    failures: list[str] = []

    async def watched(name: str, work: Awaitable[None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            if not stopping.is_set():
                failures.append(f"{name} was cancelled")
                stopping.set()
            raise
        except (Exception, SystemExit) as error:  # uvicorn exits when it cannot bind its port
            log.critical("%s died: %r", name, error, exc_info=not isinstance(error, SystemExit))
            failures.append(f"{name}: {error!r}")
        else:
            if stopping.is_set():
                return
            log.critical("%s ended while the service was running", name)
            failures.append(f"{name} ended")
        stopping.set()

    async with asyncio.TaskGroup() as group:
        for name, consumer in consumers.items():
            group.create_task(watched(name, consumer.run()), name=name)
        for worker in wiring.workers:
            group.create_task(watched(type(worker).__name__, worker.run()))
        loops = [group.create_task(watched(name, task()), name=name) for name, task in wiring.tasks.items()]
        if server is not None:
            group.create_task(watched("the HTTP server", server.serve()))
        await stopping.wait()
        # Stop taking requests and work; consumers finish (or hand back) what they hold.
        if server is not None:
            server.should_exit = True
        for each in (*consumers.values(), *wiring.workers):
            each.stop()
        for loop in loops:
            loop.cancel()
    if failures:
        raise ServiceFailed("; ".join(failures))


def _consumers(
    wiring: Wiring, config: ServiceConfig, producer: EventProducer, identity: ServiceIdentity
) -> dict[str, EventConsumer]:
    """One consumer per group (and commit policy), named for the supervisor's messages."""
    return {
        _name(bindings): _consumer(bindings, wiring, config, producer, identity)
        for bindings in shared_consumers(wiring.bindings)
    }


def _name(bindings: list[Binding[Any]]) -> str:
    topics = ", ".join(binding.entry.topic.name for binding in bindings)
    return f"the consumer of {topics} in group {bindings[0].entry.group}"


def _consumer(
    bindings: list[Binding[Any]],
    wiring: Wiring,
    config: ServiceConfig,
    producer: EventProducer,
    identity: ServiceIdentity,
) -> EventConsumer:
    group, commit_every_s = bindings[0].consumer_key
    assert group is not None  # handled entries always have a group
    return EventConsumer(
        *(binding.route for binding in bindings),
        group_id=group,
        settings=config.kafka,
        producer=producer,
        client_id=identity.instance_id,
        retry=wiring.retry,
        shutdown_grace_s=wiring.shutdown_grace_s,
        commit_every_s=commit_every_s,
    )


@contextlib.contextmanager
def _consumer_metrics(wiring: Wiring, consumers: dict[str, EventConsumer]) -> Iterator[None]:
    """The consumers' state (per group and topic) on the service's /metrics while they run."""
    collector = ConsumerCollector(
        (group, topic, consumer) for consumer in consumers.values() for group, topic in consumer.reads
    )
    wiring.registry.register(collector)
    try:
        yield
    finally:
        wiring.registry.unregister(collector)


def _http_app(
    declaration: ServiceDeclaration, identity: ServiceIdentity, registry: list[CollectorRegistry]
) -> FastAPI:
    """The service's app, born with the two routes every service serves (before its own, so that a
    catch-all mount of the service cannot shadow them)."""
    app = FastAPI(
        title=f"reencode {declaration.name}", summary=declaration.summary, version=package_version()
    )
    install_problem_responses(app)

    @app.get("/healthz", tags=["health"], summary="The process is up and serving", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok", service=identity.service, instance=identity.instance_id)

    @app.get("/metrics", tags=["health"], summary="Prometheus exposition of this process")
    async def metrics() -> Response:
        exposed = registry[0] if registry else CollectorRegistry()
        return Response(generate_latest(exposed), media_type=CONTENT_TYPE_LATEST)

    return app


class _Server(uvicorn.Server):
    """uvicorn without signal handlers of its own: the frame owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _http_server(app: FastAPI, config: ServiceConfig) -> uvicorn.Server:
    http = config.http()
    if http is None:
        raise ValueError("a service that serves HTTP needs HTTP settings (override ServiceConfig.http)")
    return _Server(
        uvicorn.Config(
            app,
            host=http.host,
            port=http.port,
            log_config=None,
            # The client's address and scheme from the load balancer's headers, trusted only from it.
            proxy_headers=True,
            forwarded_allow_ips=http.forwarded_allow_ips,
            timeout_graceful_shutdown=30,
            # Slow clients: a deadline for headers, bounded header size, idle keep-alive closed.
            **http.server_options(),
        )
    )


def _metrics_server(app: FastAPI, endpoint: MetricsEndpointSettings) -> uvicorn.Server:
    """The metrics-only server of a worker: /metrics and /healthz, nothing behind a proxy."""
    return _Server(
        uvicorn.Config(
            app,
            host=endpoint.host,
            port=endpoint.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=5,
        )
    )


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Call `stop` on SIGINT or SIGTERM (Ctrl-C, `docker stop`, the local supervisor)."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        log.info("received %s: shutting down gracefully", signal.Signals(signum).name)
        stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        yield
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


@contextlib.asynccontextmanager
async def nothing_to_open(wiring: Wiring) -> AsyncIterator[Wiring]:
    """For a setup with nothing to close: `return nothing_to_open(Wiring(...))`."""
    yield wiring
