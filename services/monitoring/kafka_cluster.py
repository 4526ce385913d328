"""The Kafka cluster as the admin API sees it: brokers, controller, partitions and consumer lag.

One admin client and one group-less consumer (for end offsets) are kept between looks and
rebuilt after a failure, so a broker outage costs one failed look, not a crashed service.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment

from services.monitoring.alerts import Finding
from services.monitoring.lag import LagEvaluator, LagStatus, OffsetSample, PartitionKey
from shared.events import AlertSeverity
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

SOURCE = "kafka"


@dataclass
class KafkaLook:
    """One look at the cluster: the JSON view for the page and what is wrong."""

    view: dict[str, Any]
    findings: list[Finding]
    #: False when the look failed: alerts it could not re-examine stay as they are.
    complete: bool = True


@dataclass
class GroupState:
    group: str
    state: str
    members: list[dict[str, Any]]
    assigned: set[TopicPartition]
    committed: dict[TopicPartition, int] = field(default_factory=dict)


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
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()
        if offsets is not None:
            with contextlib.suppress(Exception):
                await offsets.stop()

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
        return KafkaLook({"reachable": False, "error": reason}, [finding], complete=False)

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._offsets is None:
            await self.close()
            bootstrap = self._settings.bootstrap_servers
            admin = AIOKafkaAdminClient(
                bootstrap_servers=bootstrap, client_id=self._client_id, request_timeout_ms=5000
            )
            offsets = AIOKafkaConsumer(
                bootstrap_servers=bootstrap,
                client_id=self._client_id,
                group_id=None,
                enable_auto_commit=False,
                request_timeout_ms=5000,
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
        cluster = await admin.describe_cluster()
        topics = await admin.describe_topics()
        brokers = sorted(int(broker["node_id"]) for broker in cluster["brokers"])
        self._known_brokers |= set(brokers)
        groups = await self._groups(admin)
        ends, starts = await self._offset_bounds(offsets, groups)
        now = time.monotonic()

        findings = [
            Finding(
                f"kafka.broker_down:{broker}",
                SOURCE,
                AlertSeverity.CRITICAL,
                f"broker {broker} has left the cluster",
            )
            for broker in sorted(self._known_brokers - set(brokers))
        ]
        topic_views = [describe_topic(topic) for topic in sorted(topics, key=lambda t: str(t["topic"]))]
        for topic in topic_views:
            findings.extend(topic_findings(topic))
        group_views = []
        seen: set[PartitionKey] = set()
        for group in groups:
            view, stuck = self._judge_group(group, ends, starts, now, seen)
            group_views.append(view)
            findings.extend(stuck)
        self._lag.forget_except(seen)
        view = {
            "reachable": True,
            "cluster_id": cluster.get("cluster_id"),
            "controller_id": cluster.get("controller_id"),
            "brokers": [
                {"node_id": int(b["node_id"]), "host": b["host"], "port": b["port"], "up": True}
                for b in sorted(cluster["brokers"], key=lambda b: int(b["node_id"]))
            ]
            + [{"node_id": b, "up": False} for b in sorted(self._known_brokers - set(brokers))],
            "topics": topic_views,
            "under_replicated_partitions": sum(t["under_replicated"] for t in topic_views),
            "offline_partitions": sum(t["offline"] for t in topic_views),
            "groups": group_views,
        }
        return KafkaLook(view, findings)

    async def _groups(self, admin: AIOKafkaAdminClient) -> list[GroupState]:
        listed = sorted(str(entry[0]) for entry in await admin.list_consumer_groups())
        states: list[GroupState] = []
        for group_id in listed:
            described = await admin.describe_consumer_groups([group_id])
            raw = described[0].to_object()["groups"][0]
            members, assigned = [], set()
            for member in raw["members"]:
                partitions = _assigned_partitions(member["member_assignment"])
                assigned |= set(partitions)
                members.append(
                    {
                        "client_id": member["client_id"],
                        "host": str(member["client_host"]).lstrip("/"),
                        "partitions": len(partitions),
                    }
                )
            state = GroupState(group_id, str(raw["state"]), members, assigned)
            committed = await admin.list_consumer_group_offsets(group_id)
            state.committed = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
            states.append(state)
        return states

    async def _offset_bounds(
        self, offsets: AIOKafkaConsumer, groups: list[GroupState]
    ) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        partitions = {tp for group in groups for tp in (*group.committed, *group.assigned)}
        if not partitions:
            return {}, {}
        ends = await offsets.end_offsets(list(partitions))
        starts = await offsets.beginning_offsets(list(partitions))
        return dict(ends), dict(starts)

    def _judge_group(
        self,
        group: GroupState,
        ends: dict[TopicPartition, int],
        starts: dict[TopicPartition, int],
        now: float,
        seen: set[PartitionKey],
    ) -> tuple[dict[str, Any], list[Finding]]:
        rows = []
        stuck_by_topic: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for tp in sorted({*group.committed, *group.assigned}):
            if tp not in ends:
                continue
            # A partition the group holds but never committed counts from the log's start.
            committed = group.committed.get(tp, starts.get(tp, 0))
            key: PartitionKey = (group.group, tp.topic, tp.partition)
            seen.add(key)
            sample = OffsetSample(now, committed, ends[tp])
            self._lag.observe(key, sample)
            status = self._lag.status(key)
            row = {
                "topic": tp.topic,
                "partition": tp.partition,
                "committed": group.committed.get(tp),
                "end": ends[tp],
                "lag": sample.lag,
                "status": status.value,
                "no_commit_for_s": round(self._lag.stuck_for_s(key), 1),
            }
            rows.append(row)
            if status is LagStatus.STUCK:
                stuck_by_topic[tp.topic].append(row)
        findings = [
            Finding(
                f"kafka.group_stuck:{group.group}/{topic}",
                SOURCE,
                AlertSeverity.CRITICAL,
                f"consumer group {group.group} is stuck on {topic}: lag "
                f"{sum(r['lag'] for r in stuck)} on partition(s) "
                f"{', '.join(str(r['partition']) for r in stuck)} with no commit for "
                f"{max(r['no_commit_for_s'] for r in stuck):.0f}s ({len(group.members)} member(s))",
            )
            for topic, stuck in sorted(stuck_by_topic.items())
        ]
        statuses = {row["status"] for row in rows}
        worst = next((s.value for s in (LagStatus.STUCK, LagStatus.BEHIND) if s.value in statuses), "ok")
        view = {
            "group": group.group,
            "state": group.state,
            "members": group.members,
            "lag": sum(row["lag"] for row in rows),
            "status": worst,
            "partitions": rows,
        }
        return view, findings


def _assigned_partitions(assignment: bytes) -> list[TopicPartition]:
    if not assignment:
        return []
    try:
        decoded = ConsumerProtocolMemberAssignment.decode(assignment)
    except Exception:  # another protocol (connect, a share group): nothing to judge
        return []
    return list(decoded.partitions())


def describe_topic(topic: dict[str, Any]) -> dict[str, Any]:
    """One topic of a metadata response as the page shows it, with its replication health."""
    partitions = []
    for part in sorted(topic["partitions"], key=lambda p: int(p["partition"])):
        replicas, isr = list(part["replicas"]), list(part["isr"])
        partitions.append(
            {
                "partition": int(part["partition"]),
                "leader": int(part["leader"]),
                "replicas": replicas,
                "isr": isr,
                "offline_replicas": list(part.get("offline_replicas", [])),
                "under_replicated": len(isr) < len(replicas),
                "offline": int(part["leader"]) < 0,
            }
        )
    return {
        "name": str(topic["topic"]),
        "internal": bool(topic.get("is_internal", False)),
        "error_code": int(topic.get("error_code", 0)),
        "partitions": partitions,
        "under_replicated": sum(p["under_replicated"] for p in partitions),
        "offline": sum(p["offline"] for p in partitions),
    }


def topic_findings(topic: dict[str, Any]) -> list[Finding]:
    """Alerts for one described topic: partitions without a leader, or missing in-sync replicas."""
    findings = []
    name = topic["name"]
    offline = [p for p in topic["partitions"] if p["offline"]]
    if offline:
        findings.append(
            Finding(
                f"kafka.offline:{name}",
                SOURCE,
                AlertSeverity.CRITICAL,
                f"{name}: {len(offline)} partition(s) have no leader "
                f"({', '.join(str(p['partition']) for p in offline)})",
            )
        )
    lagging = [p for p in topic["partitions"] if p["under_replicated"] and not p["offline"]]
    if lagging:
        details = "; ".join(f"{p['partition']}: isr {p['isr']} of {p['replicas']}" for p in lagging[:6])
        findings.append(
            Finding(
                f"kafka.under_replicated:{name}",
                SOURCE,
                AlertSeverity.WARNING,
                f"{name}: {len(lagging)} of {len(topic['partitions'])} partition(s) under-replicated "
                f"({details})",
            )
        )
    return findings
