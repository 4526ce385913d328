"""The under-replicated-partitions alert on a real three-node cluster: Prometheus scrapes the brokers'
JMX exporters, the rule fires when a broker stops (and reaches Alertmanager) and clears when it is back."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.jmx_exporter import ensure_jmx_exporter
from infra.local.kafka import KafkaCluster, ensure_kafka_jars
from infra.local.processes import free_port
from infra.local.prometheus import RULES, AlertmanagerServer, PrometheusServer
from shared.events import JOBS_REQUESTED
from shared.kafka import ensure_topics
from shared.kafka.clients import kafka_producer
from tests.conftest import CACHE_DIR
from tests.eventually import eventually
from tests.system.test_prometheus import dashboard_expressions

ALERT = "UnderReplicatedPartitions"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    state = tmp_path_factory.mktemp("kafka-urp")
    nodes = KafkaCluster(
        state_dir=state,
        jars_dir=ensure_kafka_jars(CACHE_DIR),
        nodes=3,
        jmx_exporter=ensure_jmx_exporter(CACHE_DIR),
        logs_dir=state / "logs",
    )
    nodes.start()
    try:
        nodes.wait_ready(timeout=180)
        # One topic is enough: six partitions, three replicas each, so every broker follows some.
        three_copies = nodes.admin_settings.model_copy(update={"replication_factor": 3})
        asyncio.run(ensure_topics(three_copies, [JOBS_REQUESTED]))
        yield nodes
    finally:
        nodes.stop()


def rules_without_waiting(folder: Path) -> Path:
    """The repository's rules with every `for:` at zero: the expressions are the real ones, and
    `promtool test rules` (tests/unit) already checks how long each alert waits."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "rules.yml"
    copy.write_text(re.sub(r"(?m)^(\s+for:\s*)\S+$", r"\g<1>0s", RULES.read_text()))
    return copy


def test_stopping_a_broker_fires_the_under_replicated_alert_and_restarting_it_clears_it(
    cluster: KafkaCluster, tmp_path: Path
) -> None:
    targets = {"kafka": [f"127.0.0.1:{node.metrics_port}" for node in cluster.nodes]}
    alertmanager = AlertmanagerServer(tmp_path / "alertmanager", free_port(), tmp_path / "alertmanager.log")
    server = PrometheusServer(
        tmp_path / "prometheus",
        free_port(),
        targets,
        tmp_path / "prometheus.log",
        rule_files=[rules_without_waiting(tmp_path / "rules")],
        alertmanagers=[alertmanager.address],
    )
    alertmanager.start()
    server.start()
    try:
        server.wait_all_up(timeout=90)
        assert server.query("sum(kafka_server_replicamanager_underreplicatedpartitions) == 0")
        assert ALERT not in server.alerts()

        cluster.stop_node(2)
        eventually(
            server.alerts,
            until=lambda alerts: alerts.get(ALERT) == "firing",
            timeout=120,
            what=f"{ALERT} firing with broker 2 stopped",
        )
        # Prometheus hands it to Alertmanager (compose's config), which holds it for the operators.
        eventually(
            lambda: {alert["labels"]["alertname"] for alert in alertmanager.alerts()},
            until=lambda names: ALERT in names,
            timeout=60,
            what=f"{ALERT} in Alertmanager",
        )

        cluster.start_node(2)
        cluster.wait_ready(timeout=180)
        eventually(
            server.alerts,
            until=lambda alerts: ALERT not in alerts,
            timeout=180,
            what=f"{ALERT} cleared with broker 2 back in sync",
        )
    finally:
        server.stop()
        alertmanager.stop()


def test_every_kafka_query_of_the_dashboards_returns_series_from_the_brokers(
    cluster: KafkaCluster, tmp_path: Path
) -> None:
    """The dashboards' broker panels (which the session's single-broker stack cannot feed) against the
    cluster's own JMX exporters, with records flowing so the per-topic rates exist."""
    kafka_queries = [(where, expr) for where, expr in dashboard_expressions() if "kafka_" in expr]
    assert kafka_queries, "the dashboards chart the brokers"
    targets = {"kafka": [f"127.0.0.1:{node.metrics_port}" for node in cluster.nodes]}
    server = PrometheusServer(tmp_path / "prometheus", free_port(), targets, tmp_path / "prometheus.log")
    server.start()
    try:
        server.wait_all_up(timeout=90)
        asyncio.run(_produce(cluster, 50))

        def without_series() -> list[str]:
            return [f"{where}: {expr}" for where, expr in kafka_queries if not server.query(expr)]

        # Rates need two scrapes after the records.
        eventually(without_series, until=lambda empty: not empty, timeout=60, what="series for every query")
    finally:
        server.stop()


async def _produce(cluster: KafkaCluster, count: int) -> None:
    producer = kafka_producer(cluster.admin_settings, acks="all")
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(JOBS_REQUESTED.name, b"{}", key=str(n).encode())
    finally:
        await producer.stop()
