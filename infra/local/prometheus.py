"""Debian's Prometheus scraping the local stack: config for its ports, the server as a child process.

Compose has its own config (infra/prometheus/prometheus.yml, found through Docker's DNS); on one
machine the services listen on loopback ports chosen at start-up, so the config is written for them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from infra.local.debian import ensure_debian_binary, prometheus_path
from infra.local.processes import ManagedProcess, wait_for_port
from infra.local.stack import LocalStack

#: Compose's alert rules (infra/prometheus/rules.yml), the same file for the local server.
RULES = Path(__file__).resolve().parents[1] / "prometheus" / "rules.yml"
#: Compose's Prometheus config: a local job of the same name is scraped the same way (its path).
COMPOSE_CONFIG = RULES.parent / "prometheus.yml"
#: Compose's Alertmanager config, the same file for the local server.
ALERTMANAGER_CONFIG = RULES.parent / "alertmanager.yml"
_SCRAPE_SETTINGS = ("metrics_path", "params", "scheme", "scrape_timeout")


def compose_scrape_settings() -> dict[str, dict[str, Any]]:
    """Per compose job, how it is scraped apart from where (MinIO's path, say)."""
    jobs = yaml.safe_load(COMPOSE_CONFIG.read_text())["scrape_configs"]
    return {job["job_name"]: {k: job[k] for k in _SCRAPE_SETTINGS if k in job} for job in jobs}


def promtool_path() -> str:
    """Debian's promtool (checks configs and rules, runs rule unit tests); comes with the server."""
    return ensure_debian_binary("promtool", "prometheus")


def local_config(
    targets: Mapping[str, Sequence[str]],
    scrape_interval: str = "2s",
    rule_files: Sequence[Path] = (),
    alertmanagers: Sequence[str] = (),
) -> dict[str, Any]:
    """A Prometheus config scraping each job's `host:port` targets, as compose's job of that name
    does (`/metrics` unless it says otherwise), sending alerts to `alertmanagers` (`host:port`)."""
    compose = compose_scrape_settings()

    def job_config(job: str, addresses: Sequence[str]) -> dict[str, Any]:
        settings = dict(compose.get(job, {}))
        if "scrape_timeout" in settings:
            # A job compose gives more time (a JVM's agent) is scraped no more often than that.
            settings["scrape_interval"] = settings["scrape_timeout"]
        return {"job_name": job, **settings, "static_configs": [{"targets": list(addresses)}]}

    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [job_config(job, addresses) for job, addresses in targets.items()],
    }
    if alertmanagers:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]}
    return config


def alertmanager_path() -> str:
    """Debian's Alertmanager (its package also brings `amtool`)."""
    return ensure_debian_binary("prometheus-alertmanager", "prometheus-alertmanager")


def amtool_path() -> str:
    return ensure_debian_binary("amtool", "prometheus-alertmanager")


class AlertmanagerServer:
    """Debian's Alertmanager with compose's config, on 127.0.0.1:`port`, without clustering (its
    gossip port would take 9094, a broker's port in make run-full)."""

    def __init__(self, data_dir: Path, port: int, log_path: Path, config: Path = ALERTMANAGER_CONFIG) -> None:
        self.port = port
        self.process = ManagedProcess(
            name="alertmanager",
            argv=[
                alertmanager_path(),
                f"--config.file={config}",
                f"--storage.path={data_dir}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            log_path=log_path,
        )
        self.data_dir = data_dir

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process.start()
        wait_for_port("127.0.0.1", self.port, timeout=timeout, process=self.process)

    def stop(self) -> None:
        self.process.stop()

    def alerts(self) -> list[dict[str, Any]]:
        """The alerts Alertmanager holds now (API v2)."""
        response = httpx.get(f"http://{self.address}/api/v2/alerts", timeout=10)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()
        return alerts


def stack_targets(stack: LocalStack) -> dict[str, list[str]]:
    """The local stack's /metrics addresses by job, named as in compose's config: the HTTP services
    on their ports, every worker on its TELEMETRY_METRICS_PORT, MinIO."""
    config = stack.config
    targets = {
        "frontend": [f"127.0.0.1:{config.frontend_port}"],
        "metrics": [f"127.0.0.1:{config.metrics_port}"],
        "monitoring": [f"127.0.0.1:{config.monitoring_port}"],
        "minio": [config.storage.endpoint],
    }
    for name, port in sorted(stack.metrics_ports.items()):
        if name not in stack.services:
            continue  # stopped on purpose (a worker the stack ran earlier): not a target any more
        job = name.rsplit("-", 1)[0]  # reencoder-2 -> reencoder
        targets.setdefault(job, []).append(f"127.0.0.1:{port}")
    return targets


def postgres_exporter_path() -> str:
    """Debian's PostgreSQL exporter (the same package compose's image installs)."""
    return ensure_debian_binary("prometheus-postgres-exporter", "prometheus-postgres-exporter")


class PostgresExporter:
    """Debian's prometheus-postgres-exporter for one server, its /metrics on 127.0.0.1:`port`.

    `data_source` is a libpq URL (`postgresql://user@127.0.0.1:5432/db?sslmode=disable`).
    """

    def __init__(self, data_source: str, port: int, log_path: Path) -> None:
        self.port = port
        self.process = ManagedProcess(
            name="postgres-exporter",
            argv=[postgres_exporter_path(), f"--web.listen-address=127.0.0.1:{port}"],
            log_path=log_path,
            env=dict(os.environ, DATA_SOURCE_NAME=data_source),
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        self.process.start()
        wait_for_port("127.0.0.1", self.port, timeout=timeout, process=self.process)

    def stop(self) -> None:
        self.process.stop()


class PrometheusServer:
    """One Prometheus server with its data under `data_dir`, listening on 127.0.0.1:`port`."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        targets: Mapping[str, Sequence[str]],
        log_path: Path,
        rule_files: Sequence[Path] = (RULES,),
        alertmanagers: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.config_path = data_dir / "prometheus.yml"
        self.targets = targets
        self.rule_files = rule_files
        self.alertmanagers = alertmanagers
        self.process = ManagedProcess(
            name="prometheus",
            argv=[
                prometheus_path(),
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={data_dir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            log_path=log_path,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = local_config(self.targets, rule_files=self.rule_files, alertmanagers=self.alertmanagers)
        self.config_path.write_text(yaml.safe_dump(config))
        self.process.start()
        wait_for_port("127.0.0.1", self.port, timeout=timeout, process=self.process)

    def stop(self) -> None:
        self.process.stop()

    def target_health(self) -> dict[str, str]:
        """`job/instance` -> `up`, `down` or `unknown`, as Prometheus last scraped them."""
        response = httpx.get(f"{self.url}/api/v1/targets", timeout=10)
        response.raise_for_status()
        active = response.json()["data"]["activeTargets"]
        return {f"{t['labels']['job']}/{t['labels']['instance']}": t["health"] for t in active}

    def target_errors(self) -> dict[str, str]:
        """`job/instance` -> why its last scrape failed, for the targets that are not up."""
        response = httpx.get(f"{self.url}/api/v1/targets", timeout=10)
        response.raise_for_status()
        active = response.json()["data"]["activeTargets"]
        return {
            f"{t['labels']['job']}/{t['labels']['instance']}": t.get("lastError", "")
            for t in active
            if t["health"] != "up"
        }

    def wait_all_up(self, timeout: float = 60) -> dict[str, str]:
        """Until every target was scraped successfully; raises with the last health map otherwise."""
        deadline = time.monotonic() + timeout
        health: dict[str, str] = {}
        while time.monotonic() < deadline:
            health = self.target_health()
            if health and all(state == "up" for state in health.values()):
                return health
            time.sleep(0.5)
        raise TimeoutError(
            f"not every target is up after {timeout}s: {health}\n"
            f"errors: {self.target_errors()}\n{self.process.log_tail()}"
        )

    def rule_groups(self) -> dict[str, list[str]]:
        """The loaded alerting and recording rules: group name -> rule names."""
        response = httpx.get(f"{self.url}/api/v1/rules", timeout=10)
        response.raise_for_status()
        groups = response.json()["data"]["groups"]
        return {group["name"]: [rule["name"] for rule in group["rules"]] for group in groups}

    def alerts(self) -> dict[str, str]:
        """Alert name -> `pending` or `firing`, for the alerts the rules hold active now."""
        response = httpx.get(f"{self.url}/api/v1/alerts", timeout=10)
        response.raise_for_status()
        return {alert["labels"]["alertname"]: alert["state"] for alert in response.json()["data"]["alerts"]}

    def query(self, expression: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result
