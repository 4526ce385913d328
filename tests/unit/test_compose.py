"""docker-compose.yml checked without an engine: schema, pinned images, and that it runs this code."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic_settings import BaseSettings

from infra.local.cli import app as cli_app
from infra.local.kafka import KAFKA_VERSION
from infra.local.stack import REPO_ROOT
from services.frontend.main import FrontendSettings
from services.metrics.main import MetricsSettings
from services.monitoring.main import MonitoringSettings
from services.reencoder.main import ReencoderSettings
from shared.settings import DatabaseSettings, KafkaSettings, MediaLimits, StorageSettings

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_SERVICES = {name: s for name, s in SERVICES.items() if s.get("image") == "reencode-app:local"}
SETTINGS: list[type[BaseSettings]] = [
    KafkaSettings,
    StorageSettings,
    DatabaseSettings,
    MediaLimits,
    FrontendSettings,
    ReencoderSettings,
    MetricsSettings,
    MonitoringSettings,
]


def _env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {(prefix + field).upper() for field in settings.model_fields}


def test_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads((REPO_ROOT / "infra" / "compose" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(COMPOSE)


def test_every_image_is_pinned() -> None:
    for name, service in SERVICES.items():
        image = service.get("image", "")
        if "build" in service:
            continue
        assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: image {image!r} has no tag"
        assert not image.endswith(":latest"), f"{name}: {image} is not pinned"
    for dockerfile in (REPO_ROOT / "infra").rglob("Dockerfile"):
        for line in dockerfile.read_text().splitlines():
            if line.startswith("FROM "):
                base = line.split()[1]
                assert re.fullmatch(r"[\w./-]+:\d[\w.-]*", base), f"{dockerfile}: {base} is not pinned"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_services_run_commands_that_exist(name: str) -> None:
    command = APP_SERVICES[name]["command"]
    if command[:2] == ["python", "-m"]:
        assert importlib.util.find_spec(command[2]) is not None, f"{name}: no module {command[2]}"
        assert importlib.util.find_spec(f"{command[2]}.__main__") is not None
    else:
        assert command[0] == "reencode"
        assert command[1] in {c.name or c.callback.__name__ for c in cli_app.registered_commands}  # type: ignore[union-attr]


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_app_services_set_only_variables_the_code_reads(name: str) -> None:
    known = set().union(*(_env_names(settings) for settings in SETTINGS))
    unknown = set(APP_SERVICES[name].get("environment", {})) - known
    assert not unknown, f"{name} sets variables no settings class reads: {unknown}"


def test_compose_kafka_matches_the_local_broker_version() -> None:
    kafka_images = {s["image"] for n, s in SERVICES.items() if n.startswith("kafka-")}
    assert kafka_images == {f"apache/kafka:{KAFKA_VERSION}"}
    pom = (REPO_ROOT / "infra" / "kafka" / "pom.xml").read_text()
    assert f"<kafka.version>{KAFKA_VERSION}</kafka.version>" in pom


def test_http_services_listen_on_the_ports_their_settings_default_to() -> None:
    for name, settings in (("metrics", MetricsSettings), ("monitoring", MonitoringSettings)):
        port = settings.model_fields["port"].default
        assert f"{port}:{port}" in SERVICES[name]["ports"]
        assert f":{port}/healthz" in " ".join(SERVICES[name]["healthcheck"]["test"])
    assert FrontendSettings.model_fields["port"].default == 8000


def test_topic_partitions_allow_the_compose_worker_count() -> None:
    from shared.events import JOBS_REQUESTED

    assert SERVICES["reencoder"]["deploy"]["replicas"] <= JOBS_REQUESTED.partitions


def test_nginx_config_points_at_the_frontend_service() -> None:
    conf = Path(REPO_ROOT / "infra" / "nginx" / "nginx.conf").read_text()
    assert "server frontend:8000" in conf
