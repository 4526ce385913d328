"""`reencode topics|groups|dlq|tail`: the operator's commands (added to the app in infra/local/cli.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from aiokafka.errors import KafkaConnectionError, KafkaError
from rich.console import Console

from infra.ops import render
from infra.ops.cluster_view import describe_groups, describe_topics
from infra.ops.dlq_replay import LetterFilter, replay_dead_letters
from infra.ops.reading import read_topic
from shared.settings import KafkaSettings

T = TypeVar("T")
console = Console()

topics_app = typer.Typer(help="Topics, their partitions, leaders and replicas.", no_args_is_help=True)
dlq_app = typer.Typer(help="The dead-letter topic.", no_args_is_help=True)

BOOTSTRAP = typer.Option(
    None,
    "--bootstrap-server",
    envvar="KAFKA_BOOTSTRAP_SERVERS",
    help="host:port[,host:port...] of the cluster (default: the settings' 127.0.0.1:9092).",
)


def _settings(bootstrap: str | None) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=bootstrap) if bootstrap else KafkaSettings()


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; turn the errors an operator can act on into one red line."""
    try:
        return asyncio.run(coroutine)
    except LookupError as error:
        console.print(f"[red]error:[/] {error.args[0] if error.args else error}")
    except KafkaConnectionError as error:
        console.print(f"[red]error:[/] cannot reach Kafka ({error}); is it running? see --bootstrap-server")
    except KafkaError as error:
        console.print(f"[red]error:[/] Kafka refused: {error}")
    raise typer.Exit(1)


@topics_app.command("list")
def topics_list(bootstrap: str | None = BOOTSTRAP) -> None:
    """Every topic with its partition count, replication and leaders."""
    console.print(render.topics_table(_run(describe_topics(_settings(bootstrap)))))


@topics_app.command("describe")
def topics_describe(topic: str, bootstrap: str | None = BOOTSTRAP) -> None:
    """One topic's partitions: leader, replicas and in-sync replicas."""
    views = _run(describe_topics(_settings(bootstrap), [topic]))
    if not views:
        console.print(f"[red]error:[/] no topic {topic!r}")
        raise typer.Exit(1)
    console.print(render.partitions_table(views[0]))


def groups(
    group: list[str] = typer.Argument(None, help="Groups to show (default: all)."),
    partitions: bool = typer.Option(False, "--partitions", help="One row per partition."),
    bootstrap: str | None = BOOTSTRAP,
) -> None:
    """Consumer groups: state, members and lag (end offset minus committed offset)."""
    views = _run(describe_groups(_settings(bootstrap), group or None))
    console.print(render.groups_table(views, per_partition=partitions))


@dlq_app.command("replay")
def dlq_replay(
    topic: str | None = typer.Option(None, "--topic", help="Only letters from this source topic."),
    group: str | None = typer.Option(None, "--group", help="Only letters this consumer group gave up on."),
    reason: str | None = typer.Option(None, "--reason", help="Only letters whose reason contains this."),
    from_offset: int = typer.Option(0, "--from-offset", help="Skip dead letters before this offset."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be replayed; publish nothing."),
    bootstrap: str | None = BOOTSTRAP,
) -> None:
    """Publish the payloads of dead letters to their source topics again."""
    chosen = LetterFilter(topic, group, reason, from_offset)
    results = _run(replay_dead_letters(_settings(bootstrap), chosen, dry_run=dry_run))
    console.print(render.replay_table(results))
    verb = "would replay" if dry_run else "replayed"
    done = sum(result.outcome != "skipped" for result in results)
    console.print(f"{verb} {done} of {len(results)} matching dead letter(s)")


def tail(
    topic: str,
    from_beginning: bool = typer.Option(False, "--from-beginning", help="Start at the oldest record."),
    limit: int | None = typer.Option(None, "--limit", help="Stop after this many records."),
    idle_timeout: float | None = typer.Option(
        None, "--idle-timeout", help="Stop after this many seconds without a record (default: never)."
    ),
    bootstrap: str | None = BOOTSTRAP,
) -> None:
    """Print a topic's records as they arrive, decoded as catalogue events (Ctrl-C stops)."""

    async def follow() -> None:
        shown = 0
        records = read_topic(
            _settings(bootstrap),
            topic,
            from_beginning=from_beginning,
            follow=True,
            idle_timeout_s=idle_timeout,
        )
        # aclosing: leaving early (--limit) closes the reader's consumer at once.
        async with contextlib.aclosing(records):
            async for record in records:
                console.print(render.record_block(record))
                shown += 1
                if limit is not None and shown >= limit:
                    break

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a tail ends
        _run(follow())


def register(app: typer.Typer) -> None:
    """Add the operator commands to the project's `reencode` app."""
    app.add_typer(topics_app, name="topics")
    app.add_typer(dlq_app, name="dlq")
    app.command("groups")(groups)
    app.command("tail")(tail)
