"""`reencode cluster`: the brokers, the controller and what coordinates them (KRaft, or ZooKeeper with
its health and the brokers' registrations) for an operator."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console
from rich.table import Table

from infra.ops.cluster_view import ClusterOverview, describe_cluster
from shared.settings import KafkaSettings

console = Console()


def cluster(
    bootstrap: str | None = typer.Option(
        None, "--bootstrap-server", envvar="KAFKA_BOOTSTRAP_SERVERS", help="host:port[,...] of the cluster."
    ),
    zookeeper: str | None = typer.Option(
        None,
        "--zookeeper",
        envvar="KAFKA_ZOOKEEPER_CONNECT",
        help="ZooKeeper's host:port for a ZooKeeper-mode cluster (Kafka 3.9); empty: KRaft.",
    ),
) -> None:
    """Brokers and controller; in ZooKeeper mode, ZooKeeper's health, the controller's epoch and the
    brokers' registrations. Exits 1 when the brokers or ZooKeeper cannot be reached."""
    settings = KafkaSettings()
    updates = {"bootstrap_servers": bootstrap, "zookeeper_connect": zookeeper}
    settings = settings.model_copy(update={k: v for k, v in updates.items() if v is not None})
    overview = asyncio.run(describe_cluster(settings))
    for line in overview_lines(overview):
        console.print(line)
    if overview.zookeeper is not None:
        console.print(registrations_table(overview))
    zookeeper_down = overview.zookeeper is not None and not overview.zookeeper.reachable
    if overview.cluster is None or zookeeper_down:
        raise typer.Exit(1)


def overview_lines(overview: ClusterOverview) -> list[str]:
    lines = []
    if overview.cluster is None:
        lines.append(f"[red]brokers unreachable:[/] {overview.error}")
    else:
        brokers = ", ".join(f"{b.node_id}@{b.host}:{b.port}" for b in overview.cluster.brokers)
        lines.append(f"cluster {overview.cluster.cluster_id} · brokers {brokers}")
        lines.append(f"controller (as the brokers report it): {overview.cluster.controller_id}")
    zk = overview.zookeeper
    if zk is None:
        lines.append("mode: KRaft (the controllers' metadata log; no ZooKeeper)")
    elif not zk.reachable:
        lines.append(f"mode: ZooKeeper · [red]ZooKeeper {zk.connect} DOWN:[/] {zk.error}")
    else:
        state = "[green]ok[/]" if zk.ok else "[red]ruok unanswered[/]"
        stats = " · ".join(f"{key.removeprefix('zk_')} {value}" for key, value in zk.stats.items())
        lines.append(f"mode: ZooKeeper · ZooKeeper {zk.connect} {state} · {stats}")
        lines.append(
            f"controller (ZooKeeper's /controller): broker {zk.controller_id}, epoch {zk.controller_epoch}"
        )
        if zk.kraft_controller_epoch is not None:
            lines.append(f"a KRaft controller has taken over (epoch {zk.kraft_controller_epoch}): migration")
    return lines


def registrations_table(overview: ClusterOverview) -> Table:
    """Brokers registered in ZooKeeper beside those in the metadata: a difference is news."""
    zk = overview.zookeeper
    registered = {r.broker_id: r for r in zk.registrations} if zk is not None else {}
    listed = {b.node_id for b in overview.cluster.brokers} if overview.cluster is not None else set()
    table = Table("broker", "registered in ZooKeeper", "endpoints", "in the metadata", title="Brokers")
    for broker_id in sorted(set(registered) | listed):
        registration = registered.get(broker_id)
        table.add_row(
            str(broker_id),
            "yes" if registration else "[red]no[/]",
            ", ".join(registration.endpoints) if registration else "",
            "yes" if broker_id in listed else "[red]no[/]",
        )
    return table


def register(app: typer.Typer) -> None:
    app.command("cluster")(cluster)
