"""A real Apache Kafka cluster (KRaft, combined broker+controller nodes) as local JVM processes.

The jars come from Maven Central through `infra/kafka/pom.xml`, so Java 17 and Maven are all a
machine needs: no Docker, no tarball. Each node keeps its data under `state_dir/node-<id>`, which
is formatted once; later starts reuse it, so topics and records survive restarts.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from infra.local.jmx_exporter import JmxExporter
from infra.local.kafka_security import KafkaSecurity
from infra.local.maven import maven_dependencies
from infra.local.processes import ManagedProcess, free_port, log_tail, wait_for_port
from shared.kafka.clients import kafka_admin
from shared.settings import KafkaSettings

KAFKA_VERSION = "4.4.0"

_KAFKA_DIR = Path(__file__).resolve().parents[1] / "kafka"
POM = _KAFKA_DIR / "pom.xml"
BROKER_LOG_CONFIG = _KAFKA_DIR / "log4j2.yaml"
TOOLS_LOG_CONFIG = _KAFKA_DIR / "tools-log4j2.yaml"

#: Main classes of the `bin/kafka-*.sh` scripts of the Kafka distribution, for `console_tool_argv`.
CONSOLE_TOOLS = {
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-console-producer": "org.apache.kafka.tools.ConsoleProducer",
    "kafka-console-consumer": "org.apache.kafka.tools.consumer.ConsoleConsumer",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka-storage": "kafka.tools.StorageTool",
}

# JVM options for a small machine shared with every service (issue #18, docs/benchmarks.md), where
# kafka-run-class.sh has G1 tuned for a server: the serial collector has no concurrent threads
# working while the broker idles (a 512 MiB heap's young collections take milliseconds), and the
# client compiler alone spares the minutes of C2 compilation a short-lived local stack never earns
# back. Compose keeps Kafka's own defaults, sized for a real server.
_JVM_OPTIONS = [
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
]

T = TypeVar("T")


def ensure_kafka_jars(cache_dir: Path) -> Path:
    """The folder with Kafka's jars, fetched with Maven on first use; later calls return at once."""
    return maven_dependencies(
        POM,
        cache_dir / f"kafka-{KAFKA_VERSION}" / "libs",
        f"Kafka {KAFKA_VERSION}",
        "-DincludeScope=runtime",
        # The command line wins over the pom's property: this module names the version.
        f"-Dkafka.version={KAFKA_VERSION}",
    )


def java_executable() -> str:
    """`$JAVA_HOME/bin/java` if set, else `java` on the PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("Java 17 or newer is needed to run Kafka; please install it")
    return java


def console_tool_argv(jars_dir: Path, main_class: str, args: list[str]) -> list[str]:
    """The command line of a Kafka tool, e.g. `CONSOLE_TOOLS["kafka-topics"]` with its arguments.

    Tools log warnings to stderr only, so their stdout can be parsed.
    """
    return [
        java_executable(),
        "-Xmx256m",
        f"-Dlog4j2.configurationFile={TOOLS_LOG_CONFIG}",
        "-cp",
        f"{jars_dir}/*",
        main_class,
        *args,
    ]


def random_kafka_uuid() -> str:
    """A new cluster id in Kafka's `Uuid` format: 16 random bytes, URL-safe base64, no padding."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # Kafka's own generator rejects ids starting with '-': they read as command-line flags.
        if not text.startswith("-"):
            return text


@dataclass
class KafkaNode:
    """One combined broker+controller: its id, loopback ports and folder."""

    node_id: int
    port: int
    controller_port: int
    directory: Path
    process: ManagedProcess
    #: Where the JMX exporter agent serves this node's /metrics (None: no agent).
    metrics_port: int | None = None

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def config_path(self) -> Path:
        return self.directory / "server.properties"

    @property
    def is_formatted(self) -> bool:
        return (self.data_dir / "meta.properties").is_file()


class KafkaCluster:
    """`nodes` Kafka nodes on 127.0.0.1, each both broker and controller (KRaft combined mode).

    Node ids are 0..nodes-1 and index `broker_ports`/`controller_ports`. One node formats its
    metadata log as a single-voter dynamic quorum (`--standalone`); several nodes use a static
    voter set (`controller.quorum.voters`), which fixes every controller's address in the
    configuration rather than in the log, so a restart on other ports still finds the quorum.

    Opt-in broker metrics: with `jmx_exporter` (see infra/local/jmx_exporter.py), each node runs the
    Prometheus JMX exporter agent on its `metrics_ports` entry (free ports by default).
    """

    def __init__(
        self,
        state_dir: Path,
        jars_dir: Path,
        nodes: int = 1,
        broker_ports: list[int] | None = None,
        controller_ports: list[int] | None = None,
        logs_dir: Path | None = None,
        heap: str = "512m",
        jmx_exporter: JmxExporter | None = None,
        metrics_ports: list[int] | None = None,
        security: KafkaSecurity | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("a Kafka cluster needs at least one node")
        broker_ports = broker_ports or [free_port() for _ in range(nodes)]
        controller_ports = controller_ports or [free_port() for _ in range(nodes)]
        if len(broker_ports) != nodes or len(controller_ports) != nodes:
            raise ValueError(f"{nodes} node(s) need {nodes} broker and {nodes} controller port(s)")
        self.state_dir = state_dir
        self.jars_dir = jars_dir
        self.heap = heap
        self.jmx_exporter = jmx_exporter
        #: SASL and ACLs on every listener (infra/local/kafka_security.py); None: plaintext.
        self.security = security
        if jmx_exporter is not None:
            metrics_ports = metrics_ports or [free_port() for _ in range(nodes)]
            if len(metrics_ports) != nodes:
                raise ValueError(f"{nodes} node(s) need {nodes} metrics port(s)")
        logs_dir = logs_dir or state_dir / "logs"
        self.nodes = [
            KafkaNode(
                node_id=node_id,
                port=broker_ports[node_id],
                controller_port=controller_ports[node_id],
                directory=state_dir / f"node-{node_id}",
                process=ManagedProcess(
                    name=f"kafka-{node_id}",
                    argv=self._argv(
                        state_dir / f"node-{node_id}" / "server.properties",
                        metrics_ports[node_id] if metrics_ports else None,
                    ),
                    log_path=logs_dir / f"kafka-{node_id}.log",
                ),
                metrics_port=metrics_ports[node_id] if metrics_ports else None,
            )
            for node_id in range(nodes)
        ]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    @property
    def admin_settings(self) -> KafkaSettings:
        """Client settings for this cluster, signed in as the admin principal when SASL is on."""
        settings = KafkaSettings(bootstrap_servers=self.bootstrap_servers)
        return settings if self.security is None else self.security.client_settings(settings)

    @property
    def replication_factor(self) -> int:
        """The default for new topics: every node up to three copies."""
        return min(3, len(self.nodes))

    @property
    def min_insync_replicas(self) -> int:
        # With three copies, two must have a write before it is acknowledged (acks=all), so one
        # node can die without losing acknowledged records or stopping writes.
        return 2 if len(self.nodes) >= 3 else 1

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Format new nodes, then start every node (returns at once; see `wait_ready`)."""
        cluster_id = self._cluster_id()
        for node in self.nodes:
            self._prepare(node, cluster_id)
        for node in self.nodes:
            node.process.start()

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Return once every running node listens and is an unfenced broker in the metadata."""
        deadline = time.monotonic() + timeout
        running = [node for node in self.nodes if node.process.is_running]
        if not running:
            raise RuntimeError("no Kafka node is running: call start() first")
        for node in running:
            wait_for_port("127.0.0.1", node.port, deadline - time.monotonic(), node.process)
        expected = {node.node_id for node in running}
        brokers: set[int] = set()
        while time.monotonic() < deadline:
            for node in running:
                if not node.process.is_running:
                    raise RuntimeError(
                        f"kafka-{node.node_id} exited with code {node.process.returncode}; "
                        f"last lines of {node.process.log_path}:\n{node.process.log_tail()}"
                    )
            try:
                brokers = _run(_broker_ids(self.admin_settings))
            except Exception:  # not ready yet: any client error means "ask again"
                brokers = set()
            if expected <= brokers:
                return
            time.sleep(0.5)
        tails = "\n".join(f"--- {n.process.log_path}:\n{log_tail(n.process.log_path, 15)}" for n in running)
        raise RuntimeError(
            f"Kafka not ready after {timeout:.0f}s: brokers {sorted(brokers)} of {sorted(expected)}\n{tails}"
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every node cleanly, all at once.

        In parallel because a controlled shutdown needs a controller quorum: stopped one by one,
        the last nodes of a three-node cluster would wait for a quorum that is already gone.
        """
        for node in self.nodes:
            node.process.terminate()
        deadline = time.monotonic() + timeout
        for node in self.nodes:
            node.process.stop(timeout=max(0.0, deadline - time.monotonic()))

    def kill_node(self, node_id: int) -> None:
        """SIGKILL one node, as a crash would."""
        self.nodes[node_id].process.kill()

    def stop_node(self, node_id: int, timeout: float = 30.0) -> None:
        """Stop one node cleanly (controlled shutdown: its partition leadership moves first)."""
        self.nodes[node_id].process.stop(timeout)

    def start_node(self, node_id: int) -> None:
        """Start one stopped or killed node again; `wait_ready` waits for it to rejoin."""
        node = self.nodes[node_id]
        self._prepare(node, self._cluster_id())
        node.process.start()

    # --- configuration and storage --------------------------------------------------------------

    def _cluster_id(self) -> str:
        """The cluster id of `state_dir`, chosen on first use and kept in `cluster.json`."""
        path = self.state_dir / "cluster.json"
        if path.is_file():
            saved = json.loads(path.read_text())
            if saved.get("sasl", False) != (self.security is not None):
                # SCRAM credentials are written when a node is formatted: a plaintext cluster's
                # data cannot become a SASL one (or back) by a restart.
                how = "with" if saved.get("sasl") else "without"
                raise RuntimeError(
                    f"{self.state_dir} holds a cluster formatted {how} SASL; "
                    "use another state folder or delete this one"
                )
            if saved["nodes"] != len(self.nodes):
                raise RuntimeError(
                    f"{self.state_dir} holds a {saved['nodes']}-node cluster, not {len(self.nodes)} nodes; "
                    "use another state folder or delete this one"
                )
            return str(saved["cluster_id"])
        cluster_id = random_kafka_uuid()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        saved = {"cluster_id": cluster_id, "nodes": len(self.nodes), "sasl": self.security is not None}
        path.write_text(json.dumps(saved) + "\n")
        return cluster_id

    def _prepare(self, node: KafkaNode, cluster_id: str) -> None:
        """Write the node's configuration (ports may change between runs); format it if new."""
        node.data_dir.mkdir(parents=True, exist_ok=True)
        node.config_path.write_text(self._server_properties(node))
        if node.is_formatted:
            return
        args = ["format", "--cluster-id", cluster_id, "--config", str(node.config_path)]
        if len(self.nodes) == 1:
            args.append("--standalone")
        if self.security is not None:
            args += self.security.format_arguments()
        result = subprocess.run(
            console_tool_argv(self.jars_dir, CONSOLE_TOOLS["kafka-storage"], args),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"formatting {node.data_dir} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def _server_properties(self, node: KafkaNode) -> str:
        replicas = self.replication_factor
        if len(self.nodes) == 1:
            quorum = {"controller.quorum.bootstrap.servers": f"127.0.0.1:{node.controller_port}"}
        else:
            voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
            quorum = {"controller.quorum.voters": voters}
        settings: dict[str, str | int] = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            **quorum,
            "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(node.data_dir),
            # Topics are part of the application's contract: they are created on purpose, with
            # their partition counts, never by a typo in a producer.
            "auto.create.topics.enable": "false",
            "default.replication.factor": replicas,
            "min.insync.replicas": self.min_insync_replicas,
            "offsets.topic.replication.factor": replicas,
            "transaction.state.log.replication.factor": replicas,
            "transaction.state.log.min.isr": self.min_insync_replicas,
            "share.coordinator.state.topic.replication.factor": replicas,
            "share.coordinator.state.topic.min.isr": self.min_insync_replicas,
            # Fewer partitions for the internal topics than the default 50: the first consumer
            # group then starts in a moment on a laptop, and nothing here needs more.
            "offsets.topic.num.partitions": 10,
            "transaction.state.log.num.partitions": 10,
            # Consumers of a fresh group start at once instead of waiting 3s for more members.
            "group.initial.rebalance.delay.ms": 0,
            # Two cores are shared by all nodes and services: fewer threads, less contention.
            "num.network.threads": 1,
            "num.io.threads": 2,
            "background.threads": 2,
            "group.coordinator.threads": 1,
            # The controller writes a no-op record to the metadata log this often when nothing
            # changes (default 500 ms): ten writes a second of idle work for a local cluster.
            "metadata.max.idle.interval.ms": 5000,
        }
        if self.security is not None:
            settings |= self.security.broker_properties("127.0.0.1", node.port, node.controller_port)
        lines = ["# Written by infra.local.kafka on every start; edits are overwritten."]
        lines += [f"{key}={value}" for key, value in settings.items()]
        return "\n".join(lines) + "\n"

    def _argv(self, config_path: Path, metrics_port: int | None = None) -> list[str]:
        agent = (
            [self.jmx_exporter.jvm_option(metrics_port)]
            if self.jmx_exporter is not None and metrics_port is not None
            else []
        )
        return [
            java_executable(),
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            *_JVM_OPTIONS,
            *agent,
            f"-Dlog4j2.configurationFile={BROKER_LOG_CONFIG}",
            "-cp",
            f"{self.jars_dir}/*",
            "kafka.Kafka",
            str(config_path),
        ]


async def _broker_ids(settings: KafkaSettings) -> set[int]:
    """The ids of the brokers in a metadata response: a real round trip through the cluster."""
    admin = kafka_admin(settings, request_timeout_ms=5000)
    try:
        await admin.start()
        cluster: dict[str, Any] = await admin.describe_cluster()
    finally:
        await admin.close()
    return {int(broker["node_id"]) for broker in cluster["brokers"]}


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from synchronous code, even inside a running event loop
    (an async test fixture), where `asyncio.run` refuses: there it runs on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
