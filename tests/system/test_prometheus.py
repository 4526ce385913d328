"""Debian's Prometheus scrapes every HTTP service of the local stack (installed with apt when missing)."""

from __future__ import annotations

from pathlib import Path

from infra.local.processes import free_port
from infra.local.prometheus import PrometheusServer
from tests.system.conftest import Site


def test_prometheus_scrapes_every_service(small_site: Site, tmp_path: Path) -> None:
    config = small_site.stack.config
    targets = {
        "frontend": [f"127.0.0.1:{config.frontend_port}"],
        "metrics": [f"127.0.0.1:{config.metrics_port}"],
        "monitoring": [f"127.0.0.1:{config.monitoring_port}"],
    }
    server = PrometheusServer(tmp_path / "prometheus", free_port(), targets, tmp_path / "prometheus.log")
    server.start()
    try:
        health = server.wait_all_up()
        assert sorted(name.split("/")[0] for name in health) == ["frontend", "metrics", "monitoring"]
        for _ in range(10):
            small_site.http.get("/api/jobs")
        # The figures the Grafana dashboards chart are there to query.
        assert server.query("up == 1")
        assert {r["metric"]["job"] for r in server.query("up")} == set(targets)
    finally:
        server.stop()
