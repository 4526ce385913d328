"""The Kafka cluster as the admin API sees it: brokers, controller, partitions and consumer lag.

The views come from `shared.kafka.cluster`; this module adds what monitoring judges: brokers that
left, offline and under-replicated partitions, and each group's lag trend (`lag.LagEvaluator`,
which spares partitions whose member reports progress on the work in hand).
One admin client and one group-less consumer (for the log's offsets) are kept between looks and
rebuilt after a failure, so a broker outage costs one failed look, not a crashed service.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import BaseModel

from services.monitoring.alerts import Finding
from services.monitoring.lag import LagEvaluator, LagStatus, OffsetSample, PartitionKey
from shared.events import AlertSeverity
from shared.kafka.clients import kafka_admin, kafka_consumer
from shared.kafka.cluster import (
    Broker,
    GroupMember,
    GroupView,
    TopicView,
    read_cluster,
    read_groups,
    read_topics,
)
from shared.kafka.producer import close_within
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

SOURCE = "kafka"
#: Monitoring asks often and must notice a dead cluster quickly.
_REQUEST_TIMEOUT_MS = 5000


class PartitionHealth(BaseModel):
    """One partition of a group, judged by its lag trend."""

    topic: str
    partition: int
    #: None while the group has committed nothing here (its lag then counts from the log's start).
    committed: int | None
    end: int
    lag: int
    status: LagStatus
    no_commit_for_s: float
    #: The client id of the member holding the partition now (None while unassigned).
    owner: str | None = None


class GroupHealth(BaseModel):
    group: str
    state: str
    members: list[GroupMember]
    #: The sum of the partitions' lag.
    lag: int
    #: The worst of the partitions' statuses.
    status: LagStatus
    partitions: list[PartitionHealth]


class KafkaStatus(BaseModel):
    """The Kafka part of monitoring's status (`/api/monitoring/status`, the page's Kafka panel)."""

    reachable: bool
    #: Why the cluster could not be examined (only when `reachable` is false).
    error: str | None = None
    cluster_id: str | None = None
    controller_id: int | None = None
    #: The brokers in the metadata, then those seen earlier that left it (`up` false).
    brokers: list[Broker] = []
    topics: list[TopicView] = []
    under_replicated_partitions: int = 0
    offline_partitions: int = 0
    groups: list[GroupHealth] = []


@dataclass
class KafkaLook:
    """One look at the cluster: its status for the page and what is wrong."""

    status: KafkaStatus
    findings: list[Finding]
    #: False when the look failed: alerts it could not re-examine stay as they are.
    complete: bool = True


class KafkaWatcher:
    def __init__(self, settings: KafkaSettings, lag: LagEvaluator, client_id: str) -> None:
        self._settings = settings
        self._lag = lag
        self._client_id = client_id
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        #: Every broker ever seen: one missing from the metadata now is down.
        self._known_brokers: set[int] = set()

    async def close(self) -> None:
        admin, offsets = self._admin, self._offsets
        self._admin = self._offsets = None
        # Bounded: this runs at shutdown too, when the brokers may be long gone.
        if admin is not None:
            with contextlib.suppress(Exception):
                await close_within(admin.close(), self._settings.close_timeout_s, "monitoring's admin client")
        if offsets is not None:
            with contextlib.suppress(Exception):
                await close_within(
                    offsets.stop(), self._settings.close_timeout_s, "monitoring's offset reader"
                )

    async def look(self) -> KafkaLook:
        try:
            return await self._look()
        except Exception as error:
            log.warning("kafka look failed: %s: %s", type(error).__name__, error)
            await self.close()
            return self.unreachable(f"{type(error).__name__}: {error}".rstrip(": "))

    @staticmethod
    def unreachable(reason: str) -> KafkaLook:
        finding = Finding(
            "kafka.unreachable", SOURCE, AlertSeverity.CRITICAL, f"Kafka cannot be examined: {reason}"
        )
        return KafkaLook(KafkaStatus(reachable=False, error=reason), [finding], complete=False)

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._offsets is None:
            await self.close()
            admin = kafka_admin(self._settings, self._client_id, request_timeout_ms=_REQUEST_TIMEOUT_MS)
            offsets = kafka_consumer(
                self._settings,
                group_id=None,
                client_id=self._client_id,
                request_timeout_ms=_REQUEST_TIMEOUT_MS,
            )
            try:
                await admin.start()
                await offsets.start()
            except Exception:
                with contextlib.suppress(Exception):
                    await admin.close()
                with contextlib.suppress(Exception):
                    await offsets.stop()
                raise
            self._admin, self._offsets = admin, offsets
        return self._admin, self._offsets

    async def _look(self) -> KafkaLook:
        admin, offsets = await self._clients()
        cluster = await read_cluster(admin)
        topics = await read_topics(admin)
        up = {broker.node_id for broker in cluster.brokers}
        self._known_brokers |= up
        down = sorted(self._known_brokers - up)
        groups = await read_groups(admin, offsets)
        now = time.monotonic()

        findings = [
            Finding(
                f"kafka.broker_down:{broker}",
                SOURCE,
                AlertSeverity.CRITICAL,
                f"broker {broker} has left the cluster",
            )
            for broker in down
        ]
        for topic in topics:
            findings.extend(topic_findings(topic))
        group_views = []
        seen: set[PartitionKey] = set()
        for group in groups:
            view, stuck = self._judge_group(group, now, seen)
            group_views.append(view)
            findings.extend(stuck)
        self._lag.forget_except(seen)
        status = KafkaStatus(
            reachable=True,
            cluster_id=cluster.cluster_id,
            controller_id=cluster.controller_id,
            brokers=[*cluster.brokers, *(Broker(node_id=node, up=False) for node in down)],
            topics=topics,
            under_replicated_partitions=sum(t.under_replicated for t in topics),
            offline_partitions=sum(t.offline for t in topics),
            groups=group_views,
        )
        return KafkaLook(status, findings)

    def _judge_group(
        self, group: GroupView, now: float, seen: set[PartitionKey]
    ) -> tuple[GroupHealth, list[Finding]]:
        rows = []
        stuck_by_topic: dict[str, list[PartitionHealth]] = defaultdict(list)
        for part in group.partitions:
            key: PartitionKey = (group.group_id, part.topic, part.partition)
            seen.add(key)
            # A partition the group holds but never committed counts from the log's start.
            committed = part.start if part.committed is None else part.committed
            sample = OffsetSample(now, committed, part.end)
            self._lag.observe(key, sample)
            row = PartitionHealth(
                topic=part.topic,
                partition=part.partition,
                committed=part.committed,
                end=part.end,
                lag=sample.lag,
                status=self._lag.status(key, part.owner),
                no_commit_for_s=round(self._lag.stuck_for_s(key), 1),
                owner=part.owner,
            )
            rows.append(row)
            if row.status is LagStatus.STUCK:
                stuck_by_topic[part.topic].append(row)
        findings = [
            Finding(
                f"kafka.group_stuck:{group.group_id}/{topic}",
                SOURCE,
                AlertSeverity.CRITICAL,
                f"consumer group {group.group_id} is stuck on {topic}: lag "
                f"{sum(r.lag for r in stuck)} on partition(s) "
                f"{', '.join(str(r.partition) for r in stuck)} with no commit for "
                f"{max(r.no_commit_for_s for r in stuck):.0f}s ({len(group.members)} member(s))",
            )
            for topic, stuck in sorted(stuck_by_topic.items())
        ]
        statuses = {row.status for row in rows}
        worst = next(
            (s for s in (LagStatus.STUCK, LagStatus.BEHIND, LagStatus.BUSY) if s in statuses), LagStatus.OK
        )
        view = GroupHealth(
            group=group.group_id,
            state=group.state,
            members=list(group.members),
            lag=sum(row.lag for row in rows),
            status=worst,
            partitions=rows,
        )
        return view, findings


def topic_findings(topic: TopicView) -> list[Finding]:
    """Alerts for one topic: partitions without a leader, or missing in-sync replicas."""
    findings = []
    offline = [p for p in topic.partitions if p.offline]
    if offline:
        findings.append(
            Finding(
                f"kafka.offline:{topic.name}",
                SOURCE,
                AlertSeverity.CRITICAL,
                f"{topic.name}: {len(offline)} partition(s) have no leader "
                f"({', '.join(str(p.partition) for p in offline)})",
            )
        )
    lagging = [p for p in topic.partitions if p.under_replicated and not p.offline]
    if lagging:
        details = "; ".join(f"{p.partition}: isr {list(p.isr)} of {list(p.replicas)}" for p in lagging[:6])
        findings.append(
            Finding(
                f"kafka.under_replicated:{topic.name}",
                SOURCE,
                AlertSeverity.WARNING,
                f"{topic.name}: {len(lagging)} of {len(topic.partitions)} partition(s) under-replicated "
                f"({details})",
            )
        )
    return findings
