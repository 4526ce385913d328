"""The site-wide figures as Prometheus metrics, read from the engine's latest summary at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from services.metrics.engine import MetricsEngine
from services.metrics.playback import playback_families


class SummaryCollector(Collector):
    """Gauges per window (`10s`, `60s`, `300s`) and route, computed from the merged view."""

    def __init__(self, engine: MetricsEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        summary = self._engine.summary
        rate = GaugeMetricFamily(
            "reencode_http_requests_per_second", "Requests per second", labels=["window", "method", "route"]
        )
        latency = GaugeMetricFamily(
            "reencode_http_latency_ms",
            "Request latency quantiles (DDSketch, 1 % relative accuracy)",
            labels=["window", "method", "route", "quantile"],
        )
        errors = GaugeMetricFamily(
            "reencode_http_error_ratio", "Share of requests answered 5xx", labels=["window"]
        )
        uploads = GaugeMetricFamily("reencode_uploads_per_minute", "Uploads per minute", labels=["window"])
        utilisation = GaugeMetricFamily(
            "reencode_worker_utilisation",
            "Share of the window a worker spent encoding",
            labels=["window", "worker"],
        )
        for name, window in summary.windows.items():
            errors.add_metric([name], window.error_ratio)
            uploads.add_metric([name], window.uploads_per_min)
            for route in window.routes:
                labels = [name, route.method, route.route]
                rate.add_metric(labels, route.rate_per_s)
                for quantile, value in route.latency_ms:
                    if value is not None:
                        latency.add_metric([*labels, quantile], value)
            for worker in window.workers:
                utilisation.add_metric([name, worker.worker_id], worker.utilisation)
        yield from (rate, latency, errors, uploads, utilisation)
        yield from playback_families(summary.windows)

        jobs = GaugeMetricFamily("reencode_jobs", "Jobs waiting or being encoded now", labels=["state"])
        for state, count in summary.jobs:
            jobs.add_metric([state], count)
        yield jobs
        finished = CounterMetricFamily(
            "reencode_jobs_finished", "Jobs that reached a final state", labels=["status"]
        )
        for status, count in self._engine.aggregator.jobs.totals.items():
            finished.add_metric([status], count)
        yield finished
        alerts = GaugeMetricFamily(
            "reencode_alerts_raised", "Alerts raised now by the metrics rules", labels=["key"]
        )
        for alert in summary.alerts:
            alerts.add_metric([alert.key], 1)
        yield alerts
        consumed = CounterMetricFamily("reencode_metrics_events_consumed", "Records the metrics service read")
        consumed.add_metric([], self._engine.consumed)
        yield consumed


def metrics_registry(engine: MetricsEngine) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(SummaryCollector(engine))
    return registry
