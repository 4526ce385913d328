"""The whole site on one machine: Kafka, MinIO, the database and every service as processes.

`make run` uses it with the default ports; the test suite uses it with free ports and a temporary
state folder, so the system under test is the very same set of processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from infra.local.jmx_exporter import ensure_jmx_exporter
from infra.local.kafka import KafkaCluster, ensure_kafka_jars
from infra.local.kafka_security import KafkaSecurity
from infra.local.objectstore import MinioServer, ensure_minio_binary
from infra.local.processes import ManagedProcess, free_port, wait_for_port
from infra.local.storage_events import audit_config, enable_audit, notification_env, subscribe_uploads
from infra.local.supervisor import ServiceSupervisor
from infra.local.zookeeper_cluster import ZooKeeperKafkaCluster, ensure_zookeeper_kafka_jars
from shared.kafka import ensure_topics
from shared.kafka.acls import apply_acls, cluster_acls
from shared.settings import KafkaSettings, StorageSettings
from shared.storage import MediaStore

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICE_STOP_TIMEOUT_S = 40.0


@dataclass
class StackConfig:
    """Where the stack keeps its data and which loopback ports it uses."""

    state_dir: Path
    cache_dir: Path
    kafka_nodes: int = 1
    kafka_ports: list[int] = field(default_factory=lambda: [9092])
    controller_ports: list[int] = field(default_factory=lambda: [9093])
    minio_port: int = 9000
    minio_console_port: int = 9001
    frontend_port: int = 8000
    metrics_port: int = 8001
    monitoring_port: int = 8002
    reencoders: int = 2
    #: None means SQLite in the state folder.
    database_url: str | None = None
    storage_access_key: str = "reencode"
    storage_secret_key: str = "reencode-secret"
    #: Extra environment for every service (tests shorten timeouts with it).
    service_env: dict[str, str] = field(default_factory=dict)
    #: One per Kafka node: its JMX exporter's /metrics port. Empty (the default): no agent.
    kafka_metrics_ports: list[int] = field(default_factory=list)
    #: SASL/SCRAM and ACLs on the brokers (`make run-full`, tests); None: plaintext, as `make run`.
    kafka_security: KafkaSecurity | None = None
    #: ZooKeeper's port: the design's own cluster, Kafka 3.9 brokers in ZooKeeper mode
    #: (infra/local/zookeeper_cluster.py, `make run-zookeeper`). None: KRaft nodes.
    zookeeper_port: int | None = None

    @classmethod
    def on_free_ports(cls, state_dir: Path, cache_dir: Path, kafka_nodes: int = 1) -> StackConfig:
        return cls(
            state_dir=state_dir,
            cache_dir=cache_dir,
            kafka_nodes=kafka_nodes,
            kafka_ports=[free_port() for _ in range(kafka_nodes)],
            controller_ports=[free_port() for _ in range(kafka_nodes)],
            minio_port=free_port(),
            minio_console_port=free_port(),
            frontend_port=free_port(),
            metrics_port=free_port(),
            monitoring_port=free_port(),
        )

    @property
    def frontend_url(self) -> str:
        return f"http://127.0.0.1:{self.frontend_port}"

    @property
    def kafka(self) -> KafkaSettings:
        """The cluster as the stack's own set-up reaches it: the admin principal when SASL is on."""
        settings = KafkaSettings(
            bootstrap_servers=",".join(f"127.0.0.1:{port}" for port in self.kafka_ports),
            replication_factor=min(3, self.kafka_nodes),
            zookeeper_connect=f"127.0.0.1:{self.zookeeper_port}" if self.zookeeper_port else "",
        )
        security = self.kafka_security
        return settings if security is None else security.client_settings(settings)

    @property
    def storage(self) -> StorageSettings:
        return StorageSettings(
            endpoint=f"127.0.0.1:{self.minio_port}",
            access_key=self.storage_access_key,
            secret_key=self.storage_secret_key,
        )

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'db' / 'reencode.sqlite'}"


class LocalStack:
    """Starts and stops the infrastructure and the services of `config`."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.logs_dir = config.state_dir / "logs"
        self.kafka: KafkaCluster | None = None
        self.minio: MinioServer | None = None
        self.services: dict[str, ManagedProcess] = {}
        #: The /metrics port of each worker (TELEMETRY_METRICS_PORT), kept across its restarts.
        self.metrics_ports: dict[str, int] = {}
        self.supervisor = ServiceSupervisor()

    # --- infrastructure -------------------------------------------------------------------------

    def start_infrastructure(self) -> None:
        """Kafka and MinIO up, topics and buckets created. Data in the state folder is kept."""
        config = self.config
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        jars = ensure_kafka_jars(config.cache_dir)
        self.kafka = KafkaCluster(
            state_dir=config.state_dir / "kafka",
            jars_dir=jars,
            nodes=config.kafka_nodes,
            broker_ports=config.kafka_ports,
            controller_ports=config.controller_ports,
            logs_dir=self.logs_dir,
            jmx_exporter=ensure_jmx_exporter(config.cache_dir) if config.kafka_metrics_ports else None,
            metrics_ports=config.kafka_metrics_ports or None,
            security=config.kafka_security,
        )
        if config.zookeeper_port is not None:
            # The design's own cluster instead: ZooKeeper and Kafka 3.9 brokers on the same ports.
            self.kafka = ZooKeeperKafkaCluster(
                state_dir=config.state_dir / "kafka",
                jars_dir=ensure_zookeeper_kafka_jars(config.cache_dir),
                zookeeper_port=config.zookeeper_port,
                nodes=config.kafka_nodes,
                broker_ports=config.kafka_ports,
                logs_dir=self.logs_dir,
            )
        self.minio = MinioServer(
            binary=ensure_minio_binary(config.cache_dir),
            data_dir=config.state_dir / "minio",
            port=config.minio_port,
            console_port=config.minio_console_port,
            access_key=config.storage_access_key,
            secret_key=config.storage_secret_key,
            log_path=self.logs_dir / "minio.log",
            # The site's pages PUT direct uploads' parts to MinIO's port (CORS).
            cors_allow_origins=(config.frontend_url, f"http://localhost:{config.frontend_port}"),
        )
        # MinIO announces stored originals on storage.events itself, as in docker-compose.yml.
        self.minio.process.env = (self.minio.process.env or {}) | notification_env(
            config.kafka.bootstrap_servers, config.state_dir / "minio-events"
        )
        if config.kafka_security is not None:
            self.minio.process.env |= config.kafka_security.minio_notification_env()
        self.kafka.start()
        # MinIO after the brokers answer: it builds its Kafka targets (notifications, and the audit
        # log once its config is stored, i.e. on every start after the first) at start-up, and a
        # broker still starting leaves them missing ("destination ARN does not exist").
        self.kafka.wait_ready(timeout=120)
        self.minio.start()
        self.minio.wait_ready(timeout=60)
        created = asyncio.run(ensure_topics(config.kafka))
        if created:
            log.info("created topics: %s", ", ".join(created))
        if config.kafka_security is not None:
            from services.declarations import SERVICES  # the services' modules: only when needed

            asyncio.run(apply_acls(config.kafka, cluster_acls(d.declaration for d in SERVICES)))
        MediaStore(config.storage).ensure_buckets()
        subscribe_uploads(config.storage)
        # MinIO's audit log, every storage API call, on storage.audit (monitoring's log view).
        audit = audit_config(
            config.kafka.bootstrap_servers, config.state_dir / "minio-audit", self.minio.process.env
        )
        enable_audit(config.storage, audit)

    # --- services -------------------------------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """The environment every service process gets: the same variables compose sets."""
        config = self.config
        kafka, storage = config.kafka, config.storage
        env = dict(os.environ)
        env.update(
            {
                "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                "KAFKA_REPLICATION_FACTOR": str(kafka.replication_factor),
                "KAFKA_ZOOKEEPER_CONNECT": kafka.zookeeper_connect,
                "STORAGE_ENDPOINT": storage.endpoint,
                "STORAGE_ACCESS_KEY": storage.access_key,
                "STORAGE_SECRET_KEY": storage.secret_key,
                "DATABASE_URL": config.sqlalchemy_url,
                "REENCODE_STATE_DIR": str(config.state_dir),
                "FRONTEND_PORT": str(config.frontend_port),
                "METRICS_PORT": str(config.metrics_port),
                "MONITORING_PORT": str(config.monitoring_port),
                "PYTHONUNBUFFERED": "1",
                # Local receivers (a developer's, the tests') listen on loopback; compose forbids it.
                "WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
                # Signs /img URLs (compose requires a real one in .env); a fixed one for local runs.
                "IMAGE_URL_SECRET": env.get("IMAGE_URL_SECRET", "reencode-local-image-urls"),
            }
        )
        env.update(config.service_env)
        return env

    def start_service(
        self, name: str, module: str, extra_env: dict[str, str] | None = None
    ) -> ManagedProcess:
        """Start `python -m <module>` as the service instance `name` (e.g. `reencoder-2`)."""
        running = self.services.get(name)
        if running is not None and running.is_running:
            # Starting it again would orphan the running one, which keeps answering on its port.
            raise RuntimeError(f"{name} is already running (pid {running.pid}); stop it first")
        # The process name is its instance id, so a restarted process is known as the same instance.
        env = self.environment() | {"INSTANCE_ID": name} | (extra_env or {})
        process = ManagedProcess(
            name=name,
            argv=[sys.executable, "-m", module],
            log_path=self.logs_dir / f"{name}.log",
            env=env,
            cwd=REPO_ROOT,
        )
        process.start()
        self.services[name] = process
        self.supervisor.started(name)
        return process

    def restart_dead_services(self) -> list[str]:
        """Start again every service that died (with growing delays); `make run` calls it each second."""
        return self.supervisor.check(self.services)

    def start_reencoder(self, name: str) -> ManagedProcess:
        port = self.metrics_ports.setdefault(name, free_port())  # for Prometheus: a worker has no HTTP
        return self.start_service(name, "services.reencoder", {"TELEMETRY_METRICS_PORT": str(port)})

    def start_services(self, reencoders: int | None = None) -> None:
        """Every service of the site; returns once the HTTP ones answer."""
        config = self.config
        http = [
            ("frontend", "services.frontend", config.frontend_port),
            ("metrics", "services.metrics", config.metrics_port),
            ("monitoring", "services.monitoring", config.monitoring_port),
        ]
        for name, module, _port in http:
            self.start_service(name, module)
        for index in range(1, (config.reencoders if reencoders is None else reencoders) + 1):
            self.start_reencoder(f"reencoder-{index}")
        webhooks_port = self.metrics_ports.setdefault("webhooks", free_port())
        self.start_service("webhooks", "services.webhooks", {"TELEMETRY_METRICS_PORT": str(webhooks_port)})
        for name, _module, port in http:
            wait_for_port("127.0.0.1", port, timeout=60, process=self.services[name])

    def stop_service(self, name: str) -> None:
        process = self.services.pop(name, None)
        self.supervisor.forget(name)
        if process is not None:
            # As long as compose's stop_grace_period: a worker may finish the job in hand
            # (REENCODER_SHUTDOWN_GRACE_S, 30 s) before it is killed.
            process.stop(timeout=SERVICE_STOP_TIMEOUT_S)

    def stop_services(self) -> None:
        # Frontends first (no new uploads), then the workers finish what they hold.
        for name in sorted(self.services, key=lambda n: not n.startswith("frontend")):
            self.stop_service(name)

    def stop(self) -> None:
        """Everything down, gracefully, services before the servers they use."""
        self.stop_services()
        if self.minio is not None:
            self.minio.stop()
        if self.kafka is not None:
            self.kafka.stop()
