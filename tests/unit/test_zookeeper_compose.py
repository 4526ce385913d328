"""`make run-zookeeper` (infra/local/zookeeper*.py) and docker-compose.zookeeper.yml run the same
cluster: the brokers' shared settings, ZooKeeper's, the Kafka and ZooKeeper versions, and the
services' view of it (bootstrap servers, replication factor, ZooKeeper's address)."""

from __future__ import annotations

from pathlib import Path

from infra.local.kafka import KafkaNode
from infra.local.stack import StackConfig
from infra.local.zookeeper import COMPOSE_VARIABLES, SHARED_SETTINGS
from infra.local.zookeeper_cluster import (
    ZOOKEEPER_KAFKA_VERSION,
    ZooKeeperKafkaCluster,
    shared_broker_settings,
)
from tests.unit.test_compose import ZOOKEEPER, _kafka_properties

SERVICES = ZOOKEEPER["services"]
BROKERS = {name: SERVICES[name] for name in ("kafka-1", "kafka-2")}


def _local_properties(tmp_path: Path) -> dict[str, str]:
    cluster = ZooKeeperKafkaCluster(tmp_path, tmp_path / "jars", zookeeper_port=2181, nodes=2)
    node: KafkaNode = cluster.nodes[0]
    text = cluster._server_properties(node)
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_brokers_share_every_setting_compose_gives_them(tmp_path: Path) -> None:
    local = _local_properties(tmp_path)
    for name, broker in BROKERS.items():
        compose = _kafka_properties(broker["environment"])
        for key, value in shared_broker_settings(len(BROKERS)).items():
            assert compose[key] == value == local[key], f"{name}: {key}"
        # Everything else compose sets is an address, an id or a folder: set locally too.
        assert set(compose) <= set(local) | {"broker.id", "listeners", "advertised.listeners"}, name
        assert compose["zookeeper.connect"] == "zookeeper:2181"
        assert local["zookeeper.connect"] == "127.0.0.1:2181"
        assert "process.roles" not in local
        assert broker["image"] == f"apache/kafka:{ZOOKEEPER_KAFKA_VERSION}"


def test_zookeeper_shares_its_settings_with_the_image_variables() -> None:
    environment = {key: str(value) for key, value in SERVICES["zookeeper"]["environment"].items()}
    assert set(COMPOSE_VARIABLES) == set(SHARED_SETTINGS)
    for setting, variable in COMPOSE_VARIABLES.items():
        assert environment[variable] == SHARED_SETTINGS[setting], variable
    assert {"ruok", "mntr"} <= set(SHARED_SETTINGS["4lw.commands.whitelist"].split(","))


def test_zookeeper_runs_the_version_kafka_3_9_depends_on() -> None:
    pom_version = "3.8"  # kafka_2.13:3.9.x depends on org.apache.zookeeper:zookeeper 3.8.x
    assert SERVICES["zookeeper"]["image"].startswith(f"zookeeper:{pom_version}.")
    assert ZOOKEEPER_KAFKA_VERSION.startswith("3.9.")


def test_services_see_the_same_cluster_locally_and_in_compose(tmp_path: Path) -> None:
    config = StackConfig.on_free_ports(tmp_path, tmp_path / "cache", kafka_nodes=2)
    config.zookeeper_port = 2181
    for name in ("frontend", "reencoder", "monitoring", "metrics"):
        compose = SERVICES[name]["environment"]
        assert str(compose["KAFKA_REPLICATION_FACTOR"]) == str(config.kafka.replication_factor)
        assert len(compose["KAFKA_BOOTSTRAP_SERVERS"].split(",")) == len(config.kafka_ports)
        assert compose["KAFKA_ZOOKEEPER_CONNECT"] == "zookeeper:2181"
    assert config.kafka.zookeeper_connect == "127.0.0.1:2181"


def test_kraft_mode_has_no_zookeeper_address(tmp_path: Path) -> None:
    config = StackConfig.on_free_ports(tmp_path, tmp_path / "cache")
    assert config.kafka.zookeeper_connect == ""
