"""The typed cluster views: replication health, group ownership, and the JSON the monitoring page reads."""

from __future__ import annotations

from aiokafka import TopicPartition

from services.monitoring.kafka_cluster import GroupHealth, KafkaStatus, PartitionHealth, topic_findings
from services.monitoring.lag import LagStatus
from shared.events import JOBS_REQUESTED
from shared.kafka.cluster import Broker, ConsumerGroup, GroupMember, PartitionView, TopicView


def topic() -> TopicView:
    return TopicView(
        name=JOBS_REQUESTED.name,
        partitions=(
            PartitionView(partition=0, leader=1, replicas=(1, 2, 3), isr=(1, 2, 3)),
            PartitionView(partition=1, leader=2, replicas=(1, 2, 3), isr=(2, 3)),
            PartitionView(partition=2, leader=-1, replicas=(1, 2, 3), isr=()),
        ),
    )


def test_a_topic_counts_its_under_replicated_and_offline_partitions() -> None:
    view = topic()
    assert [p.under_replicated for p in view.partitions] == [False, True, True]
    assert [p.offline for p in view.partitions] == [False, False, True]
    assert (view.under_replicated, view.offline, view.replication_factor) == (2, 1, 3)
    assert view.leaders() == {1, 2, -1}


def test_findings_name_offline_partitions_and_missing_replicas_apart() -> None:
    findings = {finding.key: finding for finding in topic_findings(topic())}
    assert set(findings) == {
        f"kafka.offline:{JOBS_REQUESTED.name}",
        f"kafka.under_replicated:{JOBS_REQUESTED.name}",
    }
    assert "(2)" in findings[f"kafka.offline:{JOBS_REQUESTED.name}"].message
    assert "1: isr [2, 3] of [1, 2, 3]" in findings[f"kafka.under_replicated:{JOBS_REQUESTED.name}"].message


def test_a_group_knows_which_member_holds_each_partition() -> None:
    group = ConsumerGroup(
        group_id="g",
        state="Stable",
        members=(
            GroupMember(member_id="m1", client_id="a", host="h", assignment=(TopicPartition("t", 0),)),
            GroupMember(member_id="m2", client_id="b", host="h", assignment=(TopicPartition("t", 1),)),
        ),
    )
    assert group.owners() == {TopicPartition("t", 0): "a", TopicPartition("t", 1): "b"}


def test_the_status_keeps_the_field_names_the_monitoring_page_reads() -> None:
    member = GroupMember(member_id="m", client_id="c", host="h", assignment=(TopicPartition("t", 0),))
    row = PartitionHealth(
        topic="t", partition=0, committed=None, end=5, lag=5, status=LagStatus.STUCK, no_commit_for_s=9.0
    )
    status = KafkaStatus(
        reachable=True,
        controller_id=1,
        brokers=[Broker(node_id=1, host="h", port=9092), Broker(node_id=2, up=False)],
        topics=[topic()],
        under_replicated_partitions=2,
        offline_partitions=1,
        groups=[
            GroupHealth(
                group="g", state="Stable", members=[member], lag=5, status=LagStatus.STUCK, partitions=[row]
            )
        ],
    ).model_dump(mode="json")
    # The names services/monitoring/static/monitoring.js and the Prometheus gauges read.
    assert [(b["node_id"], b["up"]) for b in status["brokers"]] == [(1, True), (2, False)]
    assert {"controller_id", "under_replicated_partitions", "offline_partitions"} <= set(status)
    shown = status["topics"][0]
    assert (shown["name"], shown["under_replicated"], shown["offline"]) == (JOBS_REQUESTED.name, 2, 1)
    assert shown["partitions"][1] | {"leader": 2, "isr": [2, 3]} == shown["partitions"][1]
    group = status["groups"][0]
    assert (group["group"], group["lag"], group["status"], len(group["members"])) == ("g", 5, "stuck", 1)
    assert group["members"][0]["partitions"] == 1
    assert group["partitions"][0] | {"topic": "t", "partition": 0, "lag": 5} == group["partitions"][0]
