"""Metrics service: the design's continuous metrics analysis.

Consumes:  (see METRICS below) requests, clicks and workers' timings, replayed from 5 min ago on
           assignment; jobs' requests and status, replayed from the beginning (job state); and, with
           no group, every peer instance's snapshot
Produces:  metrics.snapshots (every 2 s), alerts (raised / cleared)
HTTP:      GET /api/metrics/summary   rolling windows (10 s, 1 min, 5 min), jobs, alerts
           GET /api/metrics/stream    the same, as server-sent events once a second
           GET /api/metrics/alerts    alerts raised now
           GET /metrics               Prometheus exposition
           GET /healthz
Settings:  MetricsConfig: Kafka, METRICS_*.

Several instances share the partitions of the group; each publishes its share as a snapshot and
serves the merge of every live instance's snapshot (see engine.py and view.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from functools import partial

from pydantic import Field

from services.metrics.api import metrics_router
from services.metrics.engine import MetricsEngine
from services.metrics.prometheus import metrics_registry
from services.metrics.stream import STATE_TOPICS, WINDOWED_TOPICS
from shared.events import ALERTS, METRICS_SNAPSHOTS
from shared.frame import (
    Consumes,
    HttpSettings,
    Runtime,
    ServiceConfig,
    ServiceDeclaration,
    Wiring,
    run_service,
)

GROUP = "metrics"
METRICS = ServiceDeclaration(
    name="metrics",
    summary="Continuous metrics analysis: rolling windows, percentiles and alerts over the site's events.",
    consumes=(
        *(Consumes(topic, GROUP, batch=True) for topic in (*WINDOWED_TOPICS, *STATE_TOPICS)),
        Consumes(METRICS_SNAPSHOTS, group=None, batch=True),
        # At start, its own earlier alerts still raised (stream.raised_alerts), to clear them later.
        Consumes(ALERTS, group=None, batch=True),
    ),
    produces=(METRICS_SNAPSHOTS, ALERTS),
    http=True,
)


class MetricsSettings(HttpSettings, env_prefix="METRICS_"):
    port: int = 8001


class MetricsConfig(ServiceConfig):
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)

    def http(self) -> MetricsSettings:
        return self.metrics


@contextlib.asynccontextmanager
async def setup(config: MetricsConfig, runtime: Runtime) -> AsyncIterator[Wiring]:
    engine = MetricsEngine(runtime.identity.instance_id, config.kafka, GROUP)
    assert runtime.app is not None
    runtime.app.include_router(metrics_router(engine))
    readers, ticks = engine.parts(runtime.producer)
    yield Wiring(workers=readers, tasks=ticks, registry=metrics_registry(engine))


def main() -> None:
    config = MetricsConfig()
    run_service(METRICS, config, partial(setup, config))
