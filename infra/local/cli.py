"""`reencode`: the project's command line (`python -m infra.local` works too)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from pathlib import Path

import typer
from rich.console import Console

from infra.local.scaling import (
    ScaleError,
    compose_command,
    full_scaler,
    parse_request,
    refusal,
    request_scale,
    running_instances,
    stack_scaler,
)
from infra.local.stack import SERVICE_STOP_TIMEOUT_S, LocalStack, StackConfig
from infra.ops.cluster_commands import register as register_cluster_command
from infra.ops.commands import register as register_ops_commands
from infra.ops.upload import register as register_upload_command
from infra.ops.users import register as register_user_commands
from services.simulator.cli import register as register_simulator_command
from shared.database import create_schema, make_engine
from shared.events import ALL_TOPICS
from shared.kafka import ensure_topics
from shared.kafka.acls import apply_acls, cluster_acls
from shared.logs import configure_logging
from shared.settings import STATE_DIR, DatabaseSettings, KafkaSettings, StorageSettings
from shared.storage import MediaStore

app = typer.Typer(help="reencode: a media re-encoding website built as Kafka microservices.")
console = Console()


@app.callback()
def main() -> None:
    """Commands for running and operating the site."""


@app.command()
def init() -> None:
    """Create the topics, buckets and database schema the settings point at (idempotent)."""
    configure_logging("init")
    kafka = KafkaSettings()
    created = asyncio.run(ensure_topics(kafka))
    if kafka.security_protocol != "PLAINTEXT":
        # Brokers that authenticate deny what no ACL allows: each service's, from its declaration.
        from services.declarations import SERVICES

        asyncio.run(apply_acls(kafka, cluster_acls(d.declaration for d in SERVICES)))
    MediaStore(StorageSettings()).ensure_buckets()
    create_schema(make_engine(DatabaseSettings()))
    console.print(f"ready; topics created now: {', '.join(created) or 'none'}")


@app.command()
def run(
    reencoders: int = typer.Option(2, help="How many re-encoding worker processes to start."),
    state_dir: Path | None = typer.Option(
        None, help="Where Kafka, MinIO and SQLite keep their data [default: .state, .state/cluster-N]."
    ),
    brokers: int = typer.Option(
        1, min=1, help="Kafka nodes; 3 gives the compose cluster's replication factor 3, min.insync 2."
    ),
    zookeeper: bool = typer.Option(
        False,
        "--zookeeper",
        help="The design's own cluster: ZooKeeper on :2181 and Kafka 3.9 brokers (use --brokers 2).",
    ),
) -> None:
    """Start Kafka, MinIO, the database and every service; stop them all with Ctrl-C."""
    configure_logging("stack")
    logging.getLogger("infra").setLevel(logging.INFO)
    config = StackConfig(
        # A cluster keeps its own state: a node count is fixed when the Kafka data is formatted.
        state_dir=state_dir or _default_state_dir(brokers, zookeeper),
        cache_dir=STATE_DIR / "cache",
        reencoders=reencoders,
        database_url=os.environ.get("DATABASE_URL"),
        kafka_nodes=brokers,
        # 9092/9093 for one node as before; node i of a cluster: 9092+2i (clients), 9093+2i (controller).
        kafka_ports=[9092 + 2 * node for node in range(brokers)],
        controller_ports=[9093 + 2 * node for node in range(brokers)],
        zookeeper_port=2181 if zookeeper else None,
    )
    stack = LocalStack(config)
    scaler = stack_scaler(stack)
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        with console.status("starting Kafka and MinIO (the first run downloads and builds them)"):
            stack.start_infrastructure()
        with console.status("starting the services"):
            stack.start_services()
        scaler.reset()
        console.print(
            f"[bold green]reencode is up:[/] {config.frontend_url}  (API: {config.frontend_url}/docs)"
        )
        console.print(
            f"  Kafka {config.kafka.bootstrap_servers} · topics {', '.join(t.name for t in ALL_TOPICS)}"
        )
        console.print(f"  MinIO http://{config.storage.endpoint} · database {config.sqlalchemy_url}")
        console.print(f"  logs in {stack.logs_dir} · Ctrl-C stops everything")
        while not stopping.wait(1.0):
            # A service that died is started again with growing delays, as compose's `restart:`.
            for name in stack.restart_dead_services():
                console.print(f"[yellow]{name} restarted; see {stack.logs_dir}/{name}.log")
            for change in scaler.apply():  # `reencode scale` asked for it
                console.print(f"scaled: {change}")
    finally:
        with console.status("stopping: services finish their work, then Kafka and MinIO"):
            scaler.wait_for_stops(SERVICE_STOP_TIMEOUT_S)
            stack.stop()
        console.print("stopped; data kept in", str(config.state_dir))


def _default_state_dir(brokers: int, zookeeper: bool) -> Path:
    """Each kind of cluster keeps its own data: a ZooKeeper-mode broker cannot read KRaft data."""
    if zookeeper:
        return STATE_DIR / "zookeeper"
    return STATE_DIR if brokers == 1 else STATE_DIR / f"cluster-{brokers}"


@app.command("run-full")
def run_full(
    state_dir: Path | None = typer.Option(
        None, help="Where every server keeps its data [default: .state/full]."
    ),
) -> None:
    """docker-compose.yml's topology on loopback, read from that file: nginx on :8000, two frontends,
    three Kafka nodes, PostgreSQL with a synchronous replica, MinIO, the workers, Prometheus."""
    from infra.local.full import FullConfig, FullTopology

    configure_logging("stack")
    logging.getLogger("infra").setLevel(logging.INFO)
    topology = FullTopology(
        FullConfig(state_dir=state_dir or STATE_DIR / "full", cache_dir=STATE_DIR / "cache")
    )
    scaler = full_scaler(topology)
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        with console.status("starting compose's services (the first run installs nginx and PostgreSQL)"):
            topology.start()
        scaler.reset()
        config = topology.config
        console.print(
            f"[bold green]reencode (compose topology) is up:[/] {config.url}  (nginx → 2 frontends)"
        )
        console.print(
            f"  Prometheus {topology.prometheus.url} · "
            f"PostgreSQL primary and replica on {topology.postgres.ports}"
        )
        console.print(
            f"  secrets in {config.state_dir / 'secrets.env'} · logs in {topology.logs_dir} · "
            "Ctrl-C stops everything"
        )
        while not stopping.wait(1.0):
            for name in topology.restart_dead_services():
                console.print(f"[yellow]{name} restarted; see {topology.logs_dir}/{name}.log")
            for change in scaler.apply():  # `reencode scale` asked for it
                console.print(f"scaled: {change}")
    finally:
        with console.status("stopping: the lb, the services, Kafka and MinIO, then PostgreSQL"):
            scaler.wait_for_stops(SERVICE_STOP_TIMEOUT_S)
            topology.stop()
        console.print("stopped; data kept in", str(topology.config.state_dir))


@app.command()
def scale(
    counts: list[str] = typer.Argument(
        ..., help="SERVICE=COUNT pairs, e.g. reencoder=4 metrics=2 (frontend=3: make run-full only)."
    ),
    state_dir: Path | None = typer.Option(
        None, help="The running stack's state folder [default: .state; with --full: .state/full]."
    ),
    full: bool = typer.Option(False, "--full", help="Scale the stack of `make run-full`."),
    compose: bool = typer.Option(
        False, "--compose", help="Only print the `docker compose` command that does the same."
    ),
    wait_s: float = typer.Option(90.0, min=0, help="How long to wait for the stack to get there."),
) -> None:
    """Add or remove worker instances of a running stack, as `docker compose up --scale` does.

    Removed instances stop gracefully: they finish or hand back their work and leave their group."""
    try:
        wanted = parse_request(counts)
    except ScaleError as error:
        raise typer.BadParameter(str(error)) from error
    if compose:
        console.print(compose_command(wanted))
        return
    folder = state_dir or (STATE_DIR / "full" if full else STATE_DIR)
    reason = refusal(folder, wanted)
    if reason is not None:
        console.print(f"[red]{reason}[/]")
        raise typer.Exit(2)
    request_scale(folder, wanted)
    deadline = time.monotonic() + wait_s
    while True:
        running = running_instances(folder)
        if all(len(running.get(service, [])) == count for service, count in wanted.items()):
            for service in wanted:
                console.print(f"{service}: {', '.join(running[service]) or 'none'}")
            return
        if time.monotonic() >= deadline:
            console.print(
                f"[red]the stack on {folder} did not get there within {wait_s:.0f} s[/] "
                f"(is it running? `make run` or `make run-full`); it runs {running or 'nothing known'}"
            )
            raise typer.Exit(1)
        time.sleep(0.5)  # polling another process's file; nothing to wait on instead


db_app = typer.Typer(help="The database of `make run-full`: a primary and its synchronous replica.")
app.add_typer(db_app, name="db")


@db_app.command("promote")
def db_promote(
    state_dir: Path | None = typer.Option(None, help="The run-full state folder [default: .state/full]."),
) -> None:
    """Promote the replica after the primary is lost; the services reconnect to it by themselves."""
    from infra.local.full import FullConfig, FullTopology

    topology = FullTopology(
        FullConfig(state_dir=state_dir or STATE_DIR / "full", cache_dir=STATE_DIR / "cache")
    )
    topology.postgres.promote()
    console.print(f"the replica on port {topology.postgres.replica.port} is now the primary")


# After `init` and `run`, so `--help` lists the operator commands below them.
register_ops_commands(app)
register_user_commands(app)
register_upload_command(app)
register_simulator_command(app)
register_cluster_command(app)
