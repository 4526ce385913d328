"""The Kafka cluster as the admin API sees it: brokers, controller, partitions and consumer lag.

The views come from `shared.kafka.cluster`; this module adds what monitoring judges: brokers that
left, offline and under-replicated partitions, and each group's lag trend (`lag.LagEvaluator`,
which spares partitions whose member reports progress on the work in hand).
One admin client and one group-less consumer (for the log's offsets) are kept between looks and
rebuilt after a failure, so a broker outage costs one failed look, not a crashed service.

In ZooKeeper mode (`KafkaSettings.zookeeper_connect` set: Kafka 3.9, `make run-zookeeper`) each look
also reads ZooKeeper (`shared.kafka.zookeeper`): its health, the controller and its epoch, the
brokers' registrations. ZooKeeper down is an alert of its own: the brokers keep serving the
partitions they lead, but no controller can be elected and no ISR or topic can change meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import BaseModel

from services.monitoring.alerts import Finding
from services.monitoring.lag import LagEvaluator, LagStatus, OffsetSample, PartitionKey
from shared.events import AlertSeverity, utc_now
from shared.kafka.clients import kafka_admin, kafka_consumer
from shared.kafka.cluster import (
    Broker,
    Coordinators,
    GroupMember,
    GroupView,
    TopicView,
    read_cluster,
    read_groups,
    read_topics,
)
from shared.kafka.producer import close_within
from shared.kafka.zookeeper import ZooKeeperView, read_zookeeper
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


class ControllerChange(BaseModel):
    """The controller moved (or was first seen): its broker and epoch before and after."""

    seen_at: datetime
    from_id: int | None
    to_id: int | None
    epoch: int | None


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
    #: What coordinates the cluster: a KRaft controller quorum, or ZooKeeper (Kafka 3.x).
    mode: Literal["kraft", "zookeeper"] = "kraft"
    #: How many controller elections there have been (ZooKeeper's /controller_epoch; None in KRaft,
    #: whose admin API does not say).
    controller_epoch: int | None = None
    #: The controller elections this monitoring instance has seen, newest first.
    controller_changes: list[ControllerChange] = []
    #: ZooKeeper's health, controller and broker registrations (ZooKeeper mode only).
    zookeeper: ZooKeeperView | None = None


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
        # Each group's coordinator, kept between looks (two FindCoordinator requests fewer per group).
        self._coordinators = Coordinators()
        #: ZooKeeper mode: the controller elections seen, newest first.
        self._controller_changes: deque[ControllerChange] = deque(maxlen=20)

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

    @property
    def mode(self) -> Literal["kraft", "zookeeper"]:
        return "zookeeper" if self._settings.zookeeper_connect else "kraft"

    async def look(self) -> KafkaLook:
        # ZooKeeper is read beside the brokers: either may be down while the other answers.
        zookeeper = (
            asyncio.ensure_future(asyncio.to_thread(read_zookeeper, self._settings.zookeeper_connect))
            if self._settings.zookeeper_connect
            else None
        )
        try:
            look = await self._look()
        except Exception as error:
            log.warning("kafka look failed: %s: %s", type(error).__name__, error)
            await self.close()
            look = self.unreachable(f"{type(error).__name__}: {error}".rstrip(": "))
        if zookeeper is not None:
            look = self._with_zookeeper(look, await zookeeper)
        return look

    def unreachable(self, reason: str) -> KafkaLook:
        finding = Finding(
            "kafka.unreachable", SOURCE, AlertSeverity.CRITICAL, f"Kafka cannot be examined: {reason}"
        )
        status = KafkaStatus(reachable=False, error=reason, mode=self.mode)
        return KafkaLook(status, [finding], complete=False)

    def _with_zookeeper(self, look: KafkaLook, view: ZooKeeperView) -> KafkaLook:
        """The look with ZooKeeper's part: its view, the controller's epoch and changes, its alerts."""
        if view.reachable:
            self._note_controller(view.controller_id, view.controller_epoch)
        status = look.status.model_copy(
            update={
                "mode": "zookeeper",
                "zookeeper": view,
                # While ZooKeeper is away the last epoch seen is still the cluster's.
                "controller_epoch": self._controller_changes[0].epoch if self._controller_changes else None,
                "controller_changes": list(self._controller_changes),
            }
        )
        return KafkaLook(status, [*look.findings, *zookeeper_findings(view)], look.complete)

    def _note_controller(self, controller_id: int | None, epoch: int | None) -> None:
        last = self._controller_changes[0] if self._controller_changes else None
        if last is None or (last.to_id, last.epoch) != (controller_id, epoch):
            change = ControllerChange(
                seen_at=utc_now(), from_id=last.to_id if last else None, to_id=controller_id, epoch=epoch
            )
            self._controller_changes.appendleft(change)
            if last is not None:
                log.warning(
                    "controller moved from broker %s to %s (epoch %s)", last.to_id, controller_id, epoch
                )

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
        groups = await read_groups(admin, offsets, coordinators=self._coordinators)
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


def zookeeper_findings(view: ZooKeeperView) -> list[Finding]:
    """Alerts for ZooKeeper mode: ZooKeeper away or unwell, or no controller elected."""
    if not view.reachable:
        return [
            Finding(
                "zookeeper.unreachable",
                SOURCE,
                AlertSeverity.CRITICAL,
                f"ZooKeeper {view.connect} cannot be examined ({view.error}): the brokers serve the "
                "partitions they lead, but no controller election, ISR change or new topic is possible",
            )
        ]
    findings = []
    if not view.ok:
        findings.append(
            Finding(
                "zookeeper.not_ok",
                SOURCE,
                AlertSeverity.WARNING,
                f"ZooKeeper {view.connect}: ruok unanswered",
            )
        )
    if view.controller_id is None:
        findings.append(
            Finding(
                "kafka.no_controller",
                SOURCE,
                AlertSeverity.CRITICAL,
                "no broker is the controller (/controller is empty): "
                "leaders of failed brokers are not replaced",
            )
        )
    return findings
