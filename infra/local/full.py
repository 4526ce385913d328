"""`make run-full`: docker-compose.yml's topology, natively on one machine, read from that file.

Every compose service runs as local processes with the command and environment compose gives it:
nginx (the lb, with infra/nginx/nginx.conf itself) in front of the frontend replicas, the Kafka nodes,
PostgreSQL (plus a synchronous streaming replica compose does not have), MinIO, the reencoder
replicas, metrics, monitoring, dblogs and Prometheus. Compose's host names become loopback
addresses, its named volumes folders under the state folder, its `${VAR:?...}` secrets values
generated once and kept there (`secrets.env`). What is not run, and why, is in `NOT_RUN`; a unit test
fails when compose and this file drift apart (tests/unit/test_compose_local_agreement.py).
"""

from __future__ import annotations

import functools
import logging
import os
import pwd
import re
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy.engine import URL, make_url

from infra.local.compose_file import ComposeService, load_services, required_variables
from infra.local.jmx_exporter import COMPOSE_PORT as JMX_COMPOSE_PORT
from infra.local.kafka_security import KafkaSecurity, security_from_variables
from infra.local.nginx import NginxServer, upstream_servers
from infra.local.postgres import SERVER_USER, _allow_traversal
from infra.local.processes import ManagedProcess, free_port, wait_for_port
from infra.local.prometheus import AlertmanagerServer, PostgresExporter, PrometheusServer
from infra.local.replica import ReplicatedPostgres
from infra.local.stack import REPO_ROOT, LocalStack, StackConfig
from services.declarations import SERVICES as DEPLOYED
from shared.frame import HttpSettings
from shared.kafka.acls import principals

log = logging.getLogger(__name__)

#: Compose services `make run-full` does not run as such, and what stands in for each.
NOT_RUN = {
    "storage-init": "its `mc event add` is done natively by infra/local/storage_events.subscribe_uploads",
    "kafka-ui": "no Debian package (tools profile)",
    "grafana": "no Debian package (tools profile)",
}
#: Compose services run by the infrastructure classes rather than from a command.
INFRASTRUCTURE = {"postgres", "postgres-exporter", "minio", "lb", "prometheus", "alertmanager"}
#: Which compose services' processes are the Kafka nodes.
#: Apache's image, or compose's build of it with the JMX exporter agent (infra/kafka/Dockerfile).
KAFKA_IMAGE = ("apache/kafka", "reencode-kafka")
#: The lb's address as the frontends see it locally (compose trusts its network instead).
LOCAL_VARIABLES = {"FRONTEND_FORWARDED_ALLOW_IPS": "127.0.0.1"}


def http_prefixes() -> dict[str, str]:
    """The env prefix of each HTTP service's listening settings (`frontend` -> `FRONTEND_`)."""
    return {
        deployed.declaration.name: str(kind.model_config.get("env_prefix", ""))
        for deployed in DEPLOYED
        if deployed.declaration.http
        for kind in deployed.config.settings_classes()
        if issubclass(kind, HttpSettings)
    }


def app_services(services: dict[str, ComposeService]) -> dict[str, ComposeService]:
    """The compose services that run a command of ours (`python -m services.x`, `reencode ...`)."""
    return {
        name: service
        for name, service in services.items()
        if service.command[:1] in (["python"], ["reencode"])
    }


def instance_names(service: ComposeService) -> list[str]:
    if service.replicas == 1:
        return [service.name]
    return [f"{service.name}-{index}" for index in range(1, service.replicas + 1)]


@dataclass
class FullConfig:
    """Where the full topology keeps its data and which loopback ports it uses."""

    state_dir: Path
    cache_dir: Path
    lb_port: int = 8000
    frontend_ports: list[int] = field(default_factory=lambda: [8010, 8011])
    metrics_port: int = 8001
    monitoring_port: int = 8002
    kafka_ports: list[int] = field(default_factory=lambda: [9092, 9094, 9096])
    controller_ports: list[int] = field(default_factory=lambda: [9093, 9095, 9097])
    #: The brokers' JMX exporter /metrics, as compose's on :7071.
    kafka_metrics_ports: list[int] = field(default_factory=lambda: [7071, 7072, 7073])
    minio_port: int = 9000
    minio_console_port: int = 9001
    postgres_ports: list[int] = field(default_factory=lambda: [5432, 5433])
    prometheus_port: int = 9090
    #: Compose's alertmanager:9093 (9093 itself is a Kafka controller's port here).
    alertmanager_port: int = 9193
    postgres_exporter_port: int = 9187
    #: One per worker instance whose compose environment names a port it serves (its /metrics).
    worker_ports: list[int] = field(default_factory=lambda: [9100, 9101, 9102, 9103])
    #: Extra environment for every service (tests shorten limits with it).
    service_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, state_dir: Path, cache_dir: Path) -> FullConfig:
        return cls(
            state_dir=state_dir,
            cache_dir=cache_dir,
            lb_port=free_port(),
            frontend_ports=[free_port() for _ in range(2)],
            metrics_port=free_port(),
            monitoring_port=free_port(),
            kafka_ports=[free_port() for _ in range(3)],
            controller_ports=[free_port() for _ in range(3)],
            kafka_metrics_ports=[free_port() for _ in range(3)],
            minio_port=free_port(),
            minio_console_port=free_port(),
            postgres_ports=[free_port() for _ in range(2)],
            prometheus_port=free_port(),
            alertmanager_port=free_port(),
            postgres_exporter_port=free_port(),
            worker_ports=[free_port() for _ in range(4)],
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"


def load_secrets(state_dir: Path) -> dict[str, str]:
    """Compose's required variables: generated once, kept in `secrets.env`, the shell's value first."""
    path = state_dir / "secrets.env"
    kept: dict[str, str] = {}
    if path.is_file():
        kept = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    for name in sorted(required_variables()):
        kept.setdefault(name, os.environ.get(name) or secrets.token_urlsafe(18))
    state_dir.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{name}={value}\n" for name, value in kept.items()))
    path.chmod(0o600)
    return kept


class FullTopology:
    """Starts and stops docker-compose.yml's services as local processes."""

    def __init__(self, config: FullConfig) -> None:
        self.config = config
        state = config.state_dir
        self.logs_dir = state / "logs"
        # Presigned storage URLs name the lb's address, as compose's name the published site's.
        site = {"SITE_ADDRESS": f"127.0.0.1:{config.lb_port}"}
        self.variables = os.environ | load_secrets(state) | LOCAL_VARIABLES | site
        self.compose = load_services(self.variables)
        self.apps = app_services(self.compose)
        kafka_nodes = sorted(
            name for name, s in self.compose.items() if (s.image or "").startswith(KAFKA_IMAGE)
        )
        if len(kafka_nodes) != len(config.kafka_ports):
            raise ValueError(
                f"compose has {len(kafka_nodes)} Kafka nodes, the config ports for {len(config.kafka_ports)}"
            )
        frontend = self.compose["frontend"]
        if frontend.replicas != len(config.frontend_ports):
            raise ValueError(
                f"compose runs {frontend.replicas} frontends, "
                f"the config has ports for {len(config.frontend_ports)}"
            )
        secret = self.variables
        self.stack = LocalStack(
            StackConfig(
                state_dir=state,
                cache_dir=config.cache_dir,
                kafka_nodes=len(kafka_nodes),
                kafka_ports=config.kafka_ports,
                controller_ports=config.controller_ports,
                kafka_metrics_ports=config.kafka_metrics_ports,
                minio_port=config.minio_port,
                minio_console_port=config.minio_console_port,
                storage_access_key=secret["STORAGE_ACCESS_KEY"],
                storage_secret_key=secret["STORAGE_SECRET_KEY"],
                kafka_security=self.kafka_security(),
            )
        )
        loopback = "127.0.0.1:{}".format
        #: Compose's `host:port` -> the local addresses serving it.
        self.addresses: dict[str, list[str]] = {
            **{
                f"{node}:29092": [loopback(port)]
                for node, port in zip(kafka_nodes, config.kafka_ports, strict=True)
            },
            **{
                f"{node}:{JMX_COMPOSE_PORT}": [loopback(port)]
                for node, port in zip(kafka_nodes, config.kafka_metrics_ports, strict=True)
            },
            "minio:9000": [loopback(config.minio_port)],
            "postgres-exporter:9187": [loopback(config.postgres_exporter_port)],
            "alertmanager:9093": [loopback(config.alertmanager_port)],
            "postgres:5432": [loopback(port) for port in config.postgres_ports],
            "metrics:8001": [loopback(config.metrics_port)],
            "monitoring:8002": [loopback(config.monitoring_port)],
            "frontend:8000": [loopback(port) for port in config.frontend_ports],
        }
        self.instances: dict[str, tuple[ComposeService, int | None]] = {}
        #: Per instance, the `*_PORT` variables compose sets (one port for every replica, each
        #: container having its own address) with a loopback port of its own.
        self.served_ports: dict[str, dict[str, int]] = self._assign_served_ports()

    def kafka_security(self) -> KafkaSecurity | None:
        """SASL and ACLs on the local nodes when compose's services sign in (each principal's
        password from compose's variables, generated into secrets.env like the other secrets)."""
        protocols = {s.environment.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT") for s in self.apps.values()}
        if protocols == {"PLAINTEXT"}:
            return None
        return security_from_variables(principals(d.declaration for d in DEPLOYED), self.variables)

    def _assign_served_ports(self) -> dict[str, dict[str, int]]:
        spare = iter(self.config.worker_ports)
        served: dict[str, dict[str, int]] = {}
        for service in self.apps.values():
            keys = sorted(key for key in service.environment if key.endswith("_PORT"))
            if service.one_shot or not keys:
                continue
            for instance in instance_names(service):
                for key in keys:
                    port = next(spare, None)
                    if port is None:
                        raise ValueError("compose has more served ports than FullConfig.worker_ports")
                    served.setdefault(instance, {})[key] = port
                    address = f"{service.name}:{service.environment[key]}"
                    self.addresses.setdefault(address, []).append(f"127.0.0.1:{port}")
        return served

    # --- the servers compose runs from images (created on first use: they find their binaries) ---

    @functools.cached_property
    def postgres(self) -> ReplicatedPostgres:
        """Compose's postgres (its command's settings), plus a synchronous replica compose lacks."""
        return ReplicatedPostgres(
            primary_dir=self.volume("postgres"),
            replica_dir=self.volume("postgres-replica"),
            primary_port=self.config.postgres_ports[0],
            replica_port=self.config.postgres_ports[1],
            primary_settings=self.postgres_settings(),
            logs_dir=self.logs_dir,
        )

    @functools.cached_property
    def lb(self) -> NginxServer:
        return NginxServer(
            self.config.state_dir / "nginx",
            self.config.lb_port,
            {address: self.addresses[address] for address in upstream_servers_of_conf()},
            self.logs_dir / "lb.log",
        )

    @functools.cached_property
    def postgres_exporter(self) -> PostgresExporter:
        """Debian's exporter on the primary, as compose's postgres-exporter."""
        db = self.compose["postgres"].environment
        user, password, name = db["POSTGRES_USER"], db["POSTGRES_PASSWORD"], db["POSTGRES_DB"]
        primary = self.config.postgres_ports[0]
        return PostgresExporter(
            f"postgresql://{user}:{password}@127.0.0.1:{primary}/{name}?sslmode=disable",
            self.config.postgres_exporter_port,
            self.logs_dir / "postgres-exporter.log",
        )

    @functools.cached_property
    def prometheus(self) -> PrometheusServer:
        return PrometheusServer(
            self.volume("prometheus"),
            self.config.prometheus_port,
            self.prometheus_targets(),
            self.logs_dir / "prometheus.log",
            alertmanagers=self.prometheus_alertmanagers(),
        )

    @functools.cached_property
    def alertmanager(self) -> AlertmanagerServer:
        """Debian's Alertmanager with compose's config (infra/prometheus/alertmanager.yml)."""
        return AlertmanagerServer(
            self.volume("alertmanager"), self.config.alertmanager_port, self.logs_dir / "alertmanager.log"
        )

    # --- compose -> local -----------------------------------------------------------------------

    def volume(self, name: str) -> Path:
        """The local folder of compose's named volume `name`."""
        return self.config.state_dir / "volumes" / name

    def localize(self, value: str, service: ComposeService) -> str:
        """A compose value with host names, bind-all addresses and container paths made local."""
        if value.startswith("postgresql"):
            url = make_url(value)
            if f"{url.host}:{url.port}" in self.addresses:
                hosts = tuple(self.addresses[f"{url.host}:{url.port}"])
                local_url = URL.create(
                    url.drivername,
                    username=url.username,
                    password=url.password,
                    database=url.database,
                    query={**url.query, "host": hosts, "target_session_attrs": "read-write"},
                )
                return local_url.render_as_string(hide_password=False)
        for address, local in self.addresses.items():
            value = re.sub(rf"\b{re.escape(address)}\b", ",".join(local), value)
        if value == "0.0.0.0":
            return "127.0.0.1"
        for volume in sorted(service.volumes, key=lambda v: -len(v.target)):
            if value == volume.target or value.startswith(volume.target + "/"):
                base = self.volume(volume.source) if volume.named else REPO_ROOT / volume.source
                return str(base) + value[len(volume.target) :]
        return value

    def postgres_settings(self) -> dict[str, str]:
        """The `-c key=value` settings of compose's postgres command, paths made local."""
        service = self.compose["postgres"]
        arguments = service.command[1:]
        settings = {}
        for flag, pair in zip(arguments[::2], arguments[1::2], strict=True):
            if flag != "-c":
                raise ValueError(f"unexpected postgres argument {flag} {pair}")
            key, value = pair.split("=", 1)
            settings[key] = self.localize(value, service)
        return settings

    def prometheus_targets(self) -> dict[str, list[str]]:
        """Compose's Prometheus jobs (infra/prometheus/prometheus.yml) with their local targets."""
        document = yaml.safe_load((REPO_ROOT / "infra" / "prometheus" / "prometheus.yml").read_text())
        targets: dict[str, list[str]] = {}
        for job in document["scrape_configs"]:
            for discovery in job.get("dns_sd_configs", []):
                for name in discovery["names"]:
                    targets.setdefault(job["job_name"], []).extend(
                        self.addresses[f"{name}:{discovery['port']}"]
                    )
        return targets

    def prometheus_alertmanagers(self) -> list[str]:
        """Compose's Prometheus alerting targets (infra/prometheus/prometheus.yml), made local."""
        document = yaml.safe_load((REPO_ROOT / "infra" / "prometheus" / "prometheus.yml").read_text())
        return [
            local
            for manager in document.get("alerting", {}).get("alertmanagers", [])
            for static in manager.get("static_configs", [])
            for target in static["targets"]
            for local in self.addresses[target]
        ]

    def environment(self, service: ComposeService, instance: str, port: int | None) -> dict[str, str]:
        env = dict(os.environ) | {
            key: self.localize(value, service) for key, value in service.environment.items()
        }
        env |= {
            "INSTANCE_ID": instance,
            "REENCODE_STATE_DIR": str(self.config.state_dir),
            "PYTHONUNBUFFERED": "1",
        }
        declared = service.command[-1].removeprefix("services.")
        if port is not None:
            env[f"{http_prefixes()[declared]}PORT"] = str(port)
        env |= {key: str(local) for key, local in self.served_ports.get(instance, {}).items()}
        return env | self.config.service_env

    def argv(self, service: ComposeService) -> list[str]:
        program, *arguments = service.command
        binary = sys.executable if program == "python" else str(Path(sys.executable).parent / program)
        return [binary, *arguments]

    def ports(self, service: ComposeService) -> list[int | None]:
        config = self.config
        by_name: dict[str, list[int | None]] = {
            "frontend": list(config.frontend_ports),
            "metrics": [config.metrics_port],
            "monitoring": [config.monitoring_port],
        }
        return by_name.get(service.name, [None] * service.replicas)

    # --- running ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Everything up in compose's dependency order; returns once the lb answers."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_log_volume()
        self.postgres.start()
        db = self.compose["postgres"].environment
        self.postgres.create_owner(db["POSTGRES_USER"], db["POSTGRES_PASSWORD"], db["POSTGRES_DB"])
        self.postgres_exporter.start()
        self.stack.start_infrastructure()
        for service in self.apps.values():
            if service.one_shot:
                self._run_once(service)
        for service in self.apps.values():
            if not service.one_shot:
                for instance, port in zip(instance_names(service), self.ports(service), strict=True):
                    self.start_instance(service, instance, port)
        for instance, (_service, port) in self.instances.items():
            if port is not None:
                wait_for_port("127.0.0.1", port, timeout=90, process=self.stack.services[instance])
        self.lb.start()
        self.alertmanager.start()
        self.prometheus.start()

    def start_instance(self, service: ComposeService, instance: str, port: int | None) -> ManagedProcess:
        process = ManagedProcess(
            name=instance,
            argv=self.argv(service),
            log_path=self.logs_dir / f"{instance}.log",
            env=self.environment(service, instance, port),
            cwd=REPO_ROOT,
        )
        process.start()
        self.stack.services[instance] = process
        self.stack.supervisor.started(instance)
        self.instances[instance] = (service, port)
        return process

    def sync_lb(self) -> None:
        """nginx's frontend upstream to the frontends running now (after `reencode scale frontend=N`)."""
        frontends = [port for service, port in self.instances.values() if service.name == "frontend"]
        self.addresses["frontend:8000"] = [f"127.0.0.1:{port}" for port in frontends if port is not None]
        self.lb.set_upstream("frontend:8000", self.addresses["frontend:8000"])

    def restart_dead_services(self) -> list[str]:
        return self.stack.restart_dead_services()

    def stop(self) -> None:
        """The lb first (no new requests), then services, Kafka and MinIO, then the database."""
        started = self.__dict__
        for server in ("lb", "prometheus", "alertmanager", "postgres_exporter"):
            if server in started:
                started[server].stop()
        self.stack.stop()
        if "postgres" in started:
            self.postgres.stop()

    def _run_once(self, service: ComposeService) -> None:
        process = ManagedProcess(
            name=service.name,
            argv=self.argv(service),
            log_path=self.logs_dir / f"{service.name}.log",
            env=self.environment(service, service.name, None),
            cwd=REPO_ROOT,
        )
        process.start()
        if process._popen is None or process._popen.wait(timeout=180) != 0:
            raise RuntimeError(f"{service.name} failed; last lines of its log:\n{process.log_tail()}")
        process.stop()

    def _prepare_log_volume(self) -> None:
        """PostgreSQL's jsonlog folder, writable by the server user and readable by dblogs."""
        folder = self.volume("pglogs")
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            server = pwd.getpwnam(SERVER_USER)
            os.chown(folder, server.pw_uid, server.pw_gid)
            _allow_traversal(folder.parent)


def upstream_servers_of_conf() -> list[str]:
    from infra.local.nginx import NGINX_CONF

    return list(upstream_servers(NGINX_CONF.read_text()).values())
