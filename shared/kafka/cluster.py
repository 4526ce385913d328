"""The Kafka cluster as the admin API sees it, as typed views: brokers, topics with their partitions
(leader, replicas, in-sync replicas), consumer groups (state, members, assignments) and their lag
per partition.

The one reader of each admin response lives here; monitoring, the operator CLI and the tests take
their views from it. The functions take started clients, so a caller that looks often (monitoring)
keeps its clients between looks and one that looks once (the CLI) opens them for that look.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from pydantic import BaseModel, ConfigDict, computed_field

from shared.events import ALL_TOPICS

_DESCRIPTIONS = {topic.name: topic.description for topic in ALL_TOPICS}


class _View(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- brokers ------------------------------------------------------------------------------------------


class Broker(_View):
    node_id: int
    host: str | None = None
    port: int | None = None
    #: False for a broker seen earlier that the cluster's metadata no longer lists.
    up: bool = True


class ClusterView(_View):
    cluster_id: str | None
    controller_id: int | None
    brokers: tuple[Broker, ...]


async def read_cluster(admin: AIOKafkaAdminClient) -> ClusterView:
    """The cluster's id, its controller and the brokers in its metadata, by node id."""
    cluster: dict[str, Any] = await admin.describe_cluster()
    brokers = (
        Broker(node_id=int(b["node_id"]), host=str(b["host"]), port=int(b["port"]))
        for b in cluster["brokers"]
    )
    return ClusterView(
        cluster_id=cluster.get("cluster_id"),
        controller_id=cluster.get("controller_id"),
        brokers=tuple(sorted(brokers, key=lambda b: b.node_id)),
    )


# --- topics -------------------------------------------------------------------------------------------


class PartitionView(_View):
    partition: int
    #: The leader's node id; -1 while the partition has none (offline).
    leader: int
    replicas: tuple[int, ...]
    #: In-sync replicas.
    isr: tuple[int, ...]
    offline_replicas: tuple[int, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def under_replicated(self) -> bool:
        return len(self.isr) < len(self.replicas)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def offline(self) -> bool:
        return self.leader < 0


class TopicView(_View):
    name: str
    partitions: tuple[PartitionView, ...]
    #: Kafka's own topics (`__consumer_offsets`, ...).
    internal: bool = False
    #: Kafka's error code for this topic in the metadata response (0: none; 3: no such topic).
    error_code: int = 0
    #: The catalogue's description, or "" for a topic the project does not define.
    description: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def under_replicated(self) -> int:
        """How many partitions miss an in-sync replica."""
        return sum(p.under_replicated for p in self.partitions)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def offline(self) -> int:
        """How many partitions have no leader."""
        return sum(p.offline for p in self.partitions)

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)

    def leaders(self) -> set[int]:
        return {p.leader for p in self.partitions}


async def read_topics(admin: AIOKafkaAdminClient, names: list[str] | None = None) -> list[TopicView]:
    """Topics (all, Kafka's internal ones included, when `names` is None), sorted by name.

    A named topic that does not exist comes back with its error code and no partitions."""
    raw: list[dict[str, Any]] = await admin.describe_topics(names)
    return sorted(map(_topic_view, raw), key=lambda view: view.name)


def _topic_view(topic: dict[str, Any]) -> TopicView:
    partitions = (
        PartitionView(
            partition=int(p["partition"]),
            leader=int(p["leader"]),
            replicas=tuple(p["replicas"]),
            isr=tuple(p["isr"]),
            offline_replicas=tuple(p.get("offline_replicas", ())),
        )
        for p in topic["partitions"]
    )
    name = str(topic["topic"])
    return TopicView(
        name=name,
        partitions=tuple(sorted(partitions, key=lambda p: p.partition)),
        internal=bool(topic.get("is_internal", False)) or name.startswith("__"),
        error_code=int(topic.get("error_code", 0)),
        description=_DESCRIPTIONS.get(name, ""),
    )


# --- consumer groups ----------------------------------------------------------------------------------


class GroupMember(_View):
    member_id: str
    client_id: str
    host: str
    #: The partitions the group gave this member (empty outside the consumer protocol).
    assignment: tuple[TopicPartition, ...] = ()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def partitions(self) -> int:
        """How many partitions the member holds."""
        return len(self.assignment)


class ConsumerGroup(_View):
    group_id: str
    #: Kafka's word: Stable, PreparingRebalance, CompletingRebalance, Empty, Dead.
    state: str
    #: "consumer" for consumer groups; Kafka Connect and others use their own protocols.
    protocol_type: str = "consumer"
    members: tuple[GroupMember, ...] = ()

    def owners(self) -> dict[TopicPartition, str]:
        """Which member (by client id) holds which partition now."""
        return {tp: member.client_id for member in self.members for tp in member.assignment}


class PartitionLag(_View):
    topic: str
    partition: int
    #: None while the group has committed nothing on this partition.
    committed: int | None
    end: int
    #: The first offset still in the log (where a group without a commit reading from the
    #: earliest offset starts).
    start: int = 0
    #: The client id of the member the partition is assigned to now, if any.
    owner: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def lag(self) -> int | None:
        """Records behind the end; None without a commit (where it starts depends on its reset policy)."""
        if self.committed is None:
            return None
        # Clamped: a commit read just after a newer end offset must not show negative lag.
        return max(0, self.end - self.committed)


class GroupView(ConsumerGroup):
    """A group with the lag of every partition it holds or has committed on."""

    partitions: tuple[PartitionLag, ...] = ()

    @property
    def total_lag(self) -> int:
        return sum(p.lag or 0 for p in self.partitions)


async def list_group_ids(admin: AIOKafkaAdminClient) -> list[str]:
    return sorted(str(entry[0]) for entry in await admin.list_consumer_groups())


async def describe_group(
    admin: AIOKafkaAdminClient, group_id: str, coordinator: int | None = None
) -> ConsumerGroup:
    """The group's state and members with their assignments (the one reader of DescribeGroups)."""
    return _group_view(group_id, await _describe_raw(admin, group_id, coordinator))


async def _describe_raw(admin: AIOKafkaAdminClient, group_id: str, coordinator: int | None) -> dict[str, Any]:
    response = (await admin.describe_consumer_groups([group_id], group_coordinator_id=coordinator))[0]
    raw: dict[str, Any] = response.to_object()["groups"][0]
    return raw


def _group_view(group_id: str, raw: dict[str, Any]) -> ConsumerGroup:
    consumer = raw["protocol_type"] in ("consumer", "")
    members = tuple(
        GroupMember(
            member_id=str(member["member_id"]),
            client_id=str(member["client_id"]),
            host=str(member["client_host"]).lstrip("/"),
            assignment=_assignment(member["member_assignment"]) if consumer else (),
        )
        for member in raw["members"]
    )
    return ConsumerGroup(
        group_id=group_id, state=str(raw["state"]), protocol_type=str(raw["protocol_type"]), members=members
    )


def _assignment(assignment: bytes) -> tuple[TopicPartition, ...]:
    if not assignment:
        return ()
    try:
        decoded = ConsumerProtocolMemberAssignment.decode(assignment)
    except Exception:  # not the consumer protocol after all: nothing to show
        return ()
    return tuple(sorted(decoded.partitions()))


async def committed_offsets(
    admin: AIOKafkaAdminClient, group_id: str, coordinator: int | None = None
) -> dict[TopicPartition, int]:
    """The group's committed offset per partition (partitions without a commit left out)."""
    offsets = await admin.list_consumer_group_offsets(group_id, group_coordinator_id=coordinator)
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


#: DescribeGroups' answers from a broker that is not (or not yet) the group's coordinator.
_NOT_THE_COORDINATOR = frozenset({14, 15, 16})  # LOAD_IN_PROGRESS, NOT_AVAILABLE, NOT_COORDINATOR


class Coordinators:
    """Each group's coordinator, found once and asked directly afterwards (issue #18).

    Without it every look at a group cost two FindCoordinator requests besides DescribeGroups and
    OffsetFetch. With it, one DescribeGroups per coordinator describes all its groups at once. A
    remembered coordinator is trusted only while it answers DescribeGroups as the group's
    coordinator; a group it disowns (or a node that fails) has its coordinator looked up again at
    once, in the same look, so a coordinator that moved (a broker down) is followed as before.
    OffsetFetch goes to the node that has just answered as the group's coordinator.
    """

    def __init__(self) -> None:
        self._known: dict[str, int] = {}

    async def read(
        self, admin: AIOKafkaAdminClient, group_ids: list[str]
    ) -> list[tuple[ConsumerGroup, dict[TopicPartition, int]]]:
        """Every group's description and committed offsets, in the order of `group_ids`."""
        self._known = {group: node for group, node in self._known.items() if group in set(group_ids)}
        described = await self._describe_remembered(admin)
        results = []
        for group_id in group_ids:
            raw = described.get(group_id)
            if raw is None:
                self._known.pop(group_id, None)
                node = await admin.find_coordinator(group_id)
                raw = await _describe_raw(admin, group_id, node)
                self._known[group_id] = node
            committed = await committed_offsets(admin, group_id, self._known[group_id])
            results.append((_group_view(group_id, raw), committed))
        return results

    async def _describe_remembered(self, admin: AIOKafkaAdminClient) -> dict[str, dict[str, Any]]:
        """The remembered groups, one DescribeGroups per coordinator; those it disowns left out."""
        by_node: dict[int, list[str]] = {}
        for group_id, node in self._known.items():
            by_node.setdefault(node, []).append(group_id)
        described: dict[str, dict[str, Any]] = {}
        for node, groups in by_node.items():
            try:
                response = (await admin.describe_consumer_groups(groups, group_coordinator_id=node))[0]
            except Exception:  # the node is gone or unreachable: its groups are looked up again
                continue
            for raw in response.to_object()["groups"]:
                if raw.get("error_code", 0) not in _NOT_THE_COORDINATOR:
                    described[str(raw["group"])] = raw
        return described


async def read_groups(
    admin: AIOKafkaAdminClient,
    offsets: AIOKafkaConsumer,
    group_ids: list[str] | None = None,
    coordinators: Coordinators | None = None,
) -> list[GroupView]:
    """Consumer groups (all when `group_ids` is None) with their lag on every partition they hold
    or have committed on; `offsets` is a started group-less consumer that reads the log's bounds.
    A caller that looks again and again passes the same `coordinators` (fewer requests)."""
    if group_ids is None:
        group_ids = await list_group_ids(admin)
    if coordinators is None:
        coordinators = Coordinators()
    described = await coordinators.read(admin, group_ids)
    partitions = sorted({tp for group, committed in described for tp in (*committed, *group.owners())})
    ends: dict[TopicPartition, int] = dict(await offsets.end_offsets(partitions)) if partitions else {}
    starts: dict[TopicPartition, int] = (
        dict(await offsets.beginning_offsets(partitions)) if partitions else {}
    )
    views = []
    for group, committed in described:
        owners = group.owners()
        lags = tuple(
            PartitionLag(
                topic=tp.topic,
                partition=tp.partition,
                committed=committed.get(tp),
                end=ends[tp],
                start=starts.get(tp, 0),
                owner=owners.get(tp),
            )
            for tp in sorted({*committed, *owners})
            if tp in ends  # a partition of a topic deleted meanwhile
        )
        views.append(GroupView(**dict(group), partitions=lags))
    return views
