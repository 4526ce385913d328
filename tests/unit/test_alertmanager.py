"""Alertmanager's config (infra/prometheus/alertmanager.yml), checked with Debian's amtool, and wired
to Prometheus the same way in compose and in the local config."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from infra.local.prometheus import ALERTMANAGER_CONFIG, COMPOSE_CONFIG, amtool_path, local_config

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_config_is_valid() -> None:
    checked = subprocess.run(
        [amtool_path(), "check-config", str(ALERTMANAGER_CONFIG)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_is_routed_to_a_receiver_that_exists() -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    receivers = {receiver["name"] for receiver in config["receivers"]}
    routes = [config["route"], *config["route"].get("routes", [])]
    assert all(route["receiver"] in receivers for route in routes)


def test_compose_runs_it_with_this_config_and_prometheus_sends_it_alerts() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    mounted = compose["alertmanager"]["volumes"]
    assert "./infra/prometheus/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in mounted
    prometheus = yaml.safe_load(COMPOSE_CONFIG.read_text())
    (manager,) = prometheus["alerting"]["alertmanagers"]
    assert manager["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_the_local_prometheus_config_names_its_alertmanager() -> None:
    config = local_config({"frontend": ["127.0.0.1:8000"]}, alertmanagers=["127.0.0.1:9193"])
    assert config["alerting"]["alertmanagers"] == [{"static_configs": [{"targets": ["127.0.0.1:9193"]}]}]
    assert "alerting" not in local_config({"frontend": ["127.0.0.1:8000"]})
