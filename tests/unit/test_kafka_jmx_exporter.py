"""Compose's brokers run the JMX exporter agent where Prometheus looks for it, from the same pom and
configuration as the local brokers (infra/local/jmx_exporter.py)."""

from __future__ import annotations

import re

import yaml

from infra.local.jmx_exporter import COMPOSE_PORT, CONFIG, POM
from infra.local.stack import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (REPO_ROOT / "infra" / "kafka" / "Dockerfile").read_text()


def _brokers() -> dict[str, dict[str, object]]:
    services: dict[str, dict[str, object]] = COMPOSE["services"]
    return {name: s for name, s in services.items() if re.fullmatch(r"kafka-\d+", name)}


def test_every_broker_starts_the_agent_on_the_port_prometheus_scrapes() -> None:
    dockerfile_paths = dict(re.findall(r"^COPY (?:--from=\w+ )?(\S+) (\S+)$", DOCKERFILE, re.MULTILINE))
    for name, broker in _brokers().items():
        environment = broker["environment"]
        assert isinstance(environment, dict)
        match = re.search(r"-javaagent:(\S+)=(\d+):(\S+)", environment["EXTRA_ARGS"])
        assert match, f"{name} starts no agent"
        agent, port, config = match.groups()
        assert int(port) == COMPOSE_PORT
        assert agent in dockerfile_paths.values(), f"{name}: {agent} is not in the image"
        assert dockerfile_paths.get(str(CONFIG.relative_to(REPO_ROOT))) == config
    jobs = yaml.safe_load((REPO_ROOT / "infra" / "prometheus" / "prometheus.yml").read_text())
    (kafka,) = [job for job in jobs["scrape_configs"] if job["job_name"] == "kafka"]
    (discovery,) = kafka["dns_sd_configs"]
    assert sorted(discovery["names"]) == sorted(_brokers())
    assert discovery["port"] == COMPOSE_PORT


def test_the_image_fetches_the_agent_with_the_local_pom() -> None:
    assert f"COPY {POM.relative_to(REPO_ROOT)} " in DOCKERFILE


def test_the_exporter_configuration_reads_only_the_mbeans_it_names() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert config["includeObjectNames"], "without it the agent walks every MBean on each scrape"
    names = {rule["name"] for rule in config["rules"]}
    assert "kafka_server_replicamanager_$1" in names
    for rule in config["rules"]:
        re.compile(rule["pattern"])
