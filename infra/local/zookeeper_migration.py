"""Kafka 3.9's ZooKeeper-to-KRaft migration (KIP-866), run on the local ZooKeeper cluster with its
data in place: the path every ZooKeeper user of Kafka takes before Kafka 4.0.

The steps, as Kafka's documentation gives them (README: "From ZooKeeper to KRaft"):

1. A KRaft controller quorum is formatted with the ZooKeeper cluster's own id and started with
   `zookeeper.metadata.migration.enable=true` and `zookeeper.connect`: it waits for the brokers.
2. Every broker is restarted with the same flag, the controller quorum's address and
   `inter.broker.protocol.version=3.9`: it registers with the KRaft controller, which then copies
   every topic, partition, config and ACL from ZooKeeper into its metadata log
   ("Completed migration of metadata from ZooKeeper to KRaft") and from then on writes both
   (dual-write mode), so a rollback is still possible.
3. Every broker is restarted as a KRaft broker (`process.roles=broker`, no ZooKeeper settings).
4. The controller is restarted without the migration flag and `zookeeper.connect`: the migration is
   final and ZooKeeper can be switched off.

Clients see rolling restarts only: the brokers keep their ids, ports and log folders, so topics,
records and committed offsets (in `__consumer_offsets`) are all still there.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

from infra.local.kafka import CONSOLE_TOOLS, _run, console_tool_argv, java_executable
from infra.local.processes import ManagedProcess, free_port, wait_for_port
from infra.local.zookeeper import LOG_CONFIG
from infra.local.zookeeper_cluster import ZOOKEEPER_KAFKA_VERSION, ZooKeeperKafkaCluster
from shared.kafka.clients import admin_client
from shared.settings import KafkaSettings

#: Out of the brokers' id range, as Kafka's documentation suggests for the controllers.
CONTROLLER_ID = 3000
MIGRATED = "Completed migration of metadata from ZooKeeper to KRaft"
#: The protocol version the brokers must speak during the migration: the release itself.
PROTOCOL_VERSION = ".".join(ZOOKEEPER_KAFKA_VERSION.split(".")[:2])


class KRaftController:
    """The one-voter KRaft controller quorum the ZooKeeper cluster migrates to."""

    def __init__(self, cluster: ZooKeeperKafkaCluster, port: int | None = None) -> None:
        self.cluster = cluster
        self.port = port or free_port()
        self.directory = cluster.state_dir / f"controller-{CONTROLLER_ID}"
        self.config_path = self.directory / "controller.properties"
        self.process = ManagedProcess(
            name=f"kraft-controller-{CONTROLLER_ID}",
            argv=[
                java_executable(),
                "-Xms256m",
                "-Xmx256m",
                f"-Dlog4j2.configurationFile={LOG_CONFIG}",
                "-cp",
                f"{cluster.jars_dir}/*",
                "kafka.Kafka",
                str(self.config_path),
            ],
            log_path=cluster.nodes[0].process.log_path.with_name(f"kraft-controller-{CONTROLLER_ID}.log"),
        )

    @property
    def voters(self) -> str:
        return f"{CONTROLLER_ID}@127.0.0.1:{self.port}"

    def write_config(self, migrating: bool) -> None:
        settings = {
            "process.roles": "controller",
            "node.id": str(CONTROLLER_ID),
            "controller.quorum.voters": self.voters,
            "controller.listener.names": "CONTROLLER",
            "listeners": f"CONTROLLER://127.0.0.1:{self.port}",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            # The brokers' listener, over which the controller sends ZooKeeper-mode brokers their RPCs.
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.directory / "data"),
        }
        if migrating:
            settings |= {
                "zookeeper.metadata.migration.enable": "true",
                "zookeeper.connect": self.cluster.zookeeper_connect,
            }
        self.directory.mkdir(parents=True, exist_ok=True)
        lines = ["# Written by infra.local.zookeeper_migration."]
        lines += [f"{key}={value}" for key, value in settings.items()]
        self.config_path.write_text("\n".join(lines) + "\n")

    def format(self, cluster_id: str) -> None:
        """Format the metadata log with the ZooKeeper cluster's id: the same cluster, not a new one."""
        args = ["format", "--cluster-id", cluster_id, "--config", str(self.config_path), "--ignore-formatted"]
        argv = console_tool_argv(self.cluster.jars_dir, CONSOLE_TOOLS["kafka-storage"], args)
        # Kafka 3.9's tools read the properties logging configuration, not 4.x's YAML one.
        argv = [f"-Dlog4j2.configurationFile={LOG_CONFIG}" if a.startswith("-Dlog4j2.") else a for a in argv]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"formatting the KRaft controller failed:\n{result.stdout}{result.stderr}")

    def start(self) -> None:
        self.process.start()
        wait_for_port("127.0.0.1", self.port, 60, self.process)

    def log_has(self, text: str) -> bool:
        return self.process.log_path.is_file() and text in self.process.log_path.read_text(errors="replace")


def migrate_to_kraft(
    cluster: ZooKeeperKafkaCluster, timeout: float = 180.0, progress: Callable[[str], None] = print
) -> KRaftController:
    """Run the four steps on a running ZooKeeper cluster; returns its (running) KRaft controller."""
    cluster_id = _run(_cluster_id(KafkaSettings(bootstrap_servers=cluster.bootstrap_servers)))
    controller = KRaftController(cluster)
    cluster.helpers.append(controller.process)

    progress(f"1/4 a KRaft controller ({controller.voters}) formatted with cluster id {cluster_id}")
    controller.write_config(migrating=True)
    controller.format(cluster_id)
    controller.start()

    progress("2/4 brokers restarted with the migration enabled; the controller copies ZooKeeper's metadata")
    cluster.overrides = {
        "zookeeper.metadata.migration.enable": "true",
        "controller.quorum.voters": controller.voters,
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.protocol.version": PROTOCOL_VERSION,
    }
    _rolling_restart(cluster, timeout)
    _wait(lambda: controller.log_has(MIGRATED), timeout, "the metadata migration", controller.process)

    progress("3/4 brokers restarted as KRaft brokers (no ZooKeeper settings)")
    cluster.overrides = {
        "process.roles": "broker",
        "zookeeper.connect": None,
        "controller.quorum.voters": controller.voters,
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    }
    _rolling_restart(cluster, timeout)

    progress("4/4 the controller restarted without ZooKeeper: the migration is final")
    controller.process.stop(30)
    controller.write_config(migrating=False)
    controller.start()
    cluster.wait_ready(timeout)
    return controller


def _rolling_restart(cluster: ZooKeeperKafkaCluster, timeout: float) -> None:
    """One broker at a time, each listening and back in the metadata before the next goes: the
    other keeps serving meanwhile (replication factor 2, min.insync.replicas 1)."""
    for node in cluster.nodes:
        # Time for a controlled shutdown (leadership moves first) even on a loaded machine.
        cluster.stop_node(node.node_id, timeout=90)
        cluster.start_node(node.node_id)
        cluster.wait_ready(timeout)


async def _cluster_id(settings: KafkaSettings) -> str:
    async with admin_client(settings, "reencode-migration") as admin:
        described = await admin.describe_cluster()
    return str(described["cluster_id"])


def _wait(condition: Callable[[], bool], timeout: float, what: str, process: ManagedProcess) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if not process.is_running:
            raise RuntimeError(f"{process.name} exited while waiting for {what}:\n{process.log_tail()}")
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not happen within {timeout:.0f}s; {process.name}:\n{process.log_tail()}")
