"""A Kafka broker started with the Prometheus JMX exporter agent (opt-in) exports what the alert
rules and dashboards read: replication, ISR changes, request rates and latency."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.local.jmx_exporter import ensure_jmx_exporter
from infra.local.kafka import KafkaCluster, ensure_kafka_jars
from infra.local.processes import free_port
from infra.local.prometheus import RULES, PrometheusServer
from tests.conftest import CACHE_DIR
from tests.eventually import eventually


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    state = tmp_path_factory.mktemp("kafka-jmx")
    cluster = KafkaCluster(
        state_dir=state,
        jars_dir=ensure_kafka_jars(CACHE_DIR),
        jmx_exporter=ensure_jmx_exporter(CACHE_DIR),
        logs_dir=state / "logs",
    )
    cluster.start()
    try:
        cluster.wait_ready(timeout=180)
        yield cluster
    finally:
        cluster.stop()


def _exported(cluster: KafkaCluster) -> str:
    (node,) = cluster.nodes
    return httpx.get(f"http://127.0.0.1:{node.metrics_port}/metrics", timeout=30).text


def test_the_broker_exports_replication_requests_and_latency(broker: KafkaCluster) -> None:
    text = eventually(
        lambda: _exported(broker),
        until=lambda page: "kafka_network_requests_total" in page,
        timeout=60,
        ignoring=(httpx.TransportError,),
        what="request metrics on the agent's /metrics",
    )
    assert re.search(r"^kafka_server_replicamanager_underreplicatedpartitions(\{[^}]*\})? 0\.0$", text, re.M)
    assert re.search(r"^kafka_server_replicamanager_isrshrinks_total(\{[^}]*\})? ", text, re.M)
    assert re.search(r'^kafka_network_requests_total\{[^}]*request="Metadata"', text, re.M)
    assert "kafka_network_request_total_time_ms" in text
    assert re.search(r"^kafka_controller_activecontrollercount(\{[^}]*\})? 1\.0$", text, re.M)


def test_every_broker_metric_the_alert_rules_read_is_exported(broker: KafkaCluster) -> None:
    read = set(re.findall(r"\bkafka_[a-z_]+", RULES.read_text()))
    exported = set(re.findall(r"^(kafka_[a-z_]+)", _exported(broker), re.M))
    assert read, "the rules read broker metrics"
    assert read <= exported, f"rules read broker metrics the exporter does not export: {read - exported}"


def test_prometheus_scrapes_the_agent(broker: KafkaCluster, tmp_path: Path) -> None:
    (node,) = broker.nodes
    targets = {"kafka": [f"127.0.0.1:{node.metrics_port}"]}
    server = PrometheusServer(tmp_path / "prometheus", free_port(), targets, tmp_path / "prometheus.log")
    server.start()
    try:
        server.wait_all_up(timeout=60)
        assert server.query("kafka_server_replicamanager_underreplicatedpartitions == 0")
    finally:
        server.stop()


def test_brokers_start_without_the_agent_unless_asked(tmp_path: Path) -> None:
    cluster = KafkaCluster(tmp_path, tmp_path)
    (node,) = cluster.nodes
    assert node.metrics_port is None
    assert not any(argument.startswith("-javaagent") for argument in node.process.argv)
