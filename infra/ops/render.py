"""Rich renderings of the ops views: tables for topics and groups, one block per tailed event."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from infra.ops.dlq_replay import Outcome, ReplayResult
from infra.ops.reading import ReadRecord
from shared.kafka.cluster import GroupView, TopicView

# Fields every event has; the tail shows them in its header line, not in the body.
_ENVELOPE = {"event_id", "correlation_id", "occurred_at", "schema_version"}
_STYLES = {"done": "green", "failed": "red", "processing": "yellow", "queued": "cyan"}


def topics_table(topics: list[TopicView]) -> Table:
    table = Table(title="topics")
    for column in ("topic", "partitions", "replicas", "leaders", "under-replicated", "catalogue"):
        table.add_column(column)
    for topic in topics:
        under = sum(p.under_replicated for p in topic.partitions)
        table.add_row(
            topic.name,
            str(len(topic.partitions)),
            str(topic.replication_factor),
            ",".join(map(str, sorted(topic.leaders()))),
            Text(str(under), style="red" if under else "green"),
            topic.description or Text("not in the catalogue", style="dim"),
        )
    return table


def partitions_table(topic: TopicView) -> Table:
    table = Table(title=f"{topic.name}: {topic.description or 'not in the catalogue'}")
    for column in ("partition", "leader", "replicas", "in-sync replicas"):
        table.add_column(column)
    for p in topic.partitions:
        table.add_row(
            str(p.partition),
            str(p.leader),
            ",".join(map(str, p.replicas)),
            Text(",".join(map(str, p.isr)), style="red" if p.under_replicated else ""),
        )
    return table


def groups_table(groups: list[GroupView], per_partition: bool) -> Table:
    table = Table(title="consumer groups")
    columns = ["group", "state", "members", "topic", "partition", "owner", "committed", "end", "lag"]
    for column in columns if per_partition else ["group", "state", "members", "topics", "lag"]:
        table.add_column(column)
    for group in groups:
        lag = Text(str(group.total_lag), style="yellow" if group.total_lag else "green")
        if not per_partition:
            topics = ", ".join(sorted({p.topic for p in group.partitions}))
            table.add_row(group.group_id, group.state, str(len(group.members)), topics, lag)
            continue
        for p in group.partitions:
            table.add_row(
                group.group_id,
                group.state,
                str(len(group.members)),
                p.topic,
                str(p.partition),
                p.owner or "-",
                "-" if p.committed is None else str(p.committed),
                str(p.end),
                "-" if p.lag is None else str(p.lag),
            )
    return table


def record_block(record: ReadRecord) -> RenderableType:
    """A header (`time topic[partition]@offset key EventType`) and the event's own fields."""
    header = Text()
    header.append(record.timestamp.strftime("%H:%M:%S.%f")[:-3], style="dim")
    header.append(f" {record.topic}[{record.partition}]@{record.offset}", style="bold")
    header.append(f" key={record.key}", style="dim")
    if record.event is None:
        header.append(
            " " + (record.problem or "not a catalogue topic"), style="red" if record.problem else ""
        )
        return Group(header, Text("  " + record.raw, style="dim"))
    event = record.event
    header.append(f" {type(event).__name__}", style="cyan")
    header.append(f" correlation={event.correlation_id}", style="dim")
    body = Text("  ")
    for name, value in event.model_dump(mode="json", exclude=_ENVELOPE).items():
        body.append(f"{name}=", style="dim")
        body.append(_short(value), style=_STYLES.get(str(value), ""))
        body.append("  ")
    return Group(header, body)


def replay_table(results: list[ReplayResult]) -> Table:
    table = Table(title="dead-letter replay")
    for column in ("offset", "source", "group", "reason", "outcome"):
        table.add_column(column)
    styles = {Outcome.REPLAYED: "green", Outcome.WOULD_REPLAY: "cyan", Outcome.SKIPPED: "red"}
    for result in results:
        letter = result.letter
        table.add_row(
            str(result.offset),
            f"{letter.source_topic}[{letter.partition}]@{letter.offset}",
            letter.consumer_group,
            letter.reason,
            Text(f"{result.outcome} {result.detail}", style=styles[result.outcome]),
        )
    return table


def _short(value: Any) -> str:
    """Lists of objects (a job's renditions) shrink to their names; long text is cut."""
    if isinstance(value, list):
        if value and all(isinstance(item, dict) and "name" in item for item in value):
            return "[" + ",".join(str(item["name"]) for item in value) + "]"
        if any(isinstance(item, dict) for item in value):
            return f"[{len(value)} item(s)]"
        return "[" + ",".join(map(str, value)) + "]"
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."
