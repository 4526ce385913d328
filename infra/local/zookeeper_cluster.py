"""The design's own Kafka cluster: ZooKeeper and Kafka 3.9 brokers registered in it (ZooKeeper
mode), replication factor 2 on two brokers, as local JVM processes (`make run-zookeeper`).

Kafka 3.9 is the last line that runs with ZooKeeper; its jars come from Maven Central through the
same `infra/kafka/pom.xml` as the KRaft nodes', with the version passed on the command line. The
brokers reuse `KafkaCluster`'s processes and lifecycle; only their configuration differs (no
metadata log to format, `zookeeper.connect` instead of a controller quorum), and ZooKeeper starts
before them and stops after them.
"""

from __future__ import annotations

import time
from pathlib import Path

from infra.local.kafka import POM, KafkaCluster, KafkaNode
from infra.local.maven import maven_dependencies
from infra.local.processes import ManagedProcess
from infra.local.zookeeper import LOG_CONFIG, ZooKeeperServer
from shared.kafka.zookeeper import read_zookeeper

#: The last Kafka line with ZooKeeper mode; docker-compose.zookeeper.yml runs the same version.
ZOOKEEPER_KAFKA_VERSION = "3.9.1"


def ensure_zookeeper_kafka_jars(cache_dir: Path) -> Path:
    """Kafka 3.9's jars (with ZooKeeper 3.8's), fetched with Maven on first use."""
    return maven_dependencies(
        POM,
        cache_dir / f"kafka-{ZOOKEEPER_KAFKA_VERSION}" / "libs",
        f"Kafka {ZOOKEEPER_KAFKA_VERSION}",
        "-DincludeScope=runtime",
        f"-Dkafka.version={ZOOKEEPER_KAFKA_VERSION}",
    )


def shared_broker_settings(brokers: int) -> dict[str, str]:
    """What a ZooKeeper-mode broker sets here and in docker-compose.zookeeper.yml (x-zk-broker-env);
    tests/unit/test_zookeeper_compose.py compares the two."""
    replicas = min(2, brokers)
    return {
        "default.replication.factor": str(replicas),
        # With two copies, requiring both would stop every write while one broker is down.
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": "1",
        # Topics are created on purpose, with their partition counts, never by a typo.
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
    }


class ZooKeeperKafkaCluster(KafkaCluster):
    """`nodes` Kafka 3.9 brokers (ids 0..nodes-1) registered in their own ZooKeeper.

    `zookeeper` is started by `start()` and stopped by `stop()`; tests stop and start it alone to
    see what the brokers do without it. `overrides` change every broker's configuration from its
    next start (a None value removes the setting): the ZooKeeper-to-KRaft migration
    (infra/local/zookeeper_migration.py) turns the brokers over with them, and adds its KRaft
    controller to `helpers`, which stop after the brokers.
    """

    def __init__(
        self,
        state_dir: Path,
        jars_dir: Path,
        zookeeper_port: int,
        nodes: int = 2,
        broker_ports: list[int] | None = None,
        logs_dir: Path | None = None,
        heap: str = "384m",
    ) -> None:
        super().__init__(state_dir, jars_dir, nodes, broker_ports, logs_dir=logs_dir, heap=heap)
        logs_dir = logs_dir or state_dir / "logs"
        self.zookeeper = ZooKeeperServer(
            jars_dir, state_dir / "zookeeper" / "data", zookeeper_port, logs_dir / "zookeeper.log"
        )
        self.overrides: dict[str, str | None] = {}
        self.helpers: list[ManagedProcess] = []
        for node in self.nodes:
            # Kafka 3.9's jars cannot read the 4.x brokers' YAML logging configuration.
            node.process.argv = [
                f"-Dlog4j2.configurationFile={LOG_CONFIG}"
                if arg.startswith("-Dlog4j2.configurationFile=")
                else arg
                for arg in node.process.argv
            ]

    @property
    def zookeeper_connect(self) -> str:
        return self.zookeeper.connect

    @property
    def replication_factor(self) -> int:
        return int(shared_broker_settings(len(self.nodes))["default.replication.factor"])

    @property
    def min_insync_replicas(self) -> int:
        return int(shared_broker_settings(len(self.nodes))["min.insync.replicas"])

    def start(self) -> None:
        """ZooKeeper first (brokers register in it as they start), then every broker."""
        if not self.zookeeper.process.is_running:
            self.zookeeper.start()
        self.zookeeper.wait_ready()
        for node in self.nodes:  # after an unclean stop, the old sessions expire first
            self._wait_until_unregistered(node.node_id)
        super().start()

    def stop(self, timeout: float = 30.0) -> None:
        """Brokers first: their controlled shutdown moves leadership through ZooKeeper."""
        super().stop(timeout)
        for helper in self.helpers:
            helper.stop(timeout)
        self.zookeeper.stop()

    def start_node(self, node_id: int) -> None:
        """Start one broker again, once its previous run's registration is gone from ZooKeeper.

        A broker that died, or was killed at the end of a slow shutdown, keeps `/brokers/ids/<id>`
        until its ZooKeeper session expires (`zookeeper.session.timeout.ms`, 18 s); started before
        that, it finds the znode taken by another session and exits (NodeExists).
        """
        self._wait_until_unregistered(node_id)
        super().start_node(node_id)

    def _wait_until_unregistered(self, node_id: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            view = read_zookeeper(self.zookeeper_connect)
            if not view.reachable or node_id not in view.registered_ids:
                return
            time.sleep(0.5)
        raise RuntimeError(f"broker {node_id} is still registered in ZooKeeper after {timeout:.0f}s")

    def _cluster_id(self) -> str:
        # ZooKeeper mode has no formatting step: the first broker creates /cluster/id.
        return ""

    def _prepare(self, node: KafkaNode, cluster_id: str) -> None:
        node.data_dir.mkdir(parents=True, exist_ok=True)
        node.config_path.write_text(self._server_properties(node))

    def _server_properties(self, node: KafkaNode) -> str:
        settings: dict[str, str | None] = {
            "broker.id": str(node.node_id),
            "zookeeper.connect": self.zookeeper_connect,
            "listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(node.data_dir),
            **shared_broker_settings(len(self.nodes)),
            # As the KRaft nodes: a first consumer group starts in a moment, fewer threads on 2 cores.
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.num.partitions": "10",
            "num.network.threads": "2",
            "num.io.threads": "4",
            **self.overrides,
        }
        if settings.get("process.roles"):  # a KRaft broker now: its id is a node id
            settings["node.id"] = settings.pop("broker.id")
        lines = ["# Written by infra.local.zookeeper_cluster on every start; edits are overwritten."]
        lines += [f"{key}={value}" for key, value in settings.items() if value is not None]
        return "\n".join(lines) + "\n"
