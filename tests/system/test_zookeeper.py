"""The design's own cluster, running: ZooKeeper and two Kafka 3.9 brokers at replication factor 2
(`make run-zookeeper`), with every service on top, started once for the module on free ports.

The site works on it (an image and a video end done; the README tutorial's topic commands work);
one broker stopped under uploads loses no accepted upload while monitoring shows the
under-replicated partitions and the controller's move, until it returns; ZooKeeper stopped leaves
the brokers serving what they lead while monitoring alerts, until it is back. Nothing is timed:
conditions are awaited with generous deadlines.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import NewTopic

from infra.local.processes import free_port
from infra.local.stack import LocalStack, StackConfig
from infra.local.zookeeper_cluster import ZooKeeperKafkaCluster
from shared.kafka.clients import admin_client, kafka_consumer, kafka_producer
from shared.settings import KafkaSettings
from tests.conftest import CACHE_DIR
from tests.eventually import eventually
from tests.media_samples import image_bytes
from tests.system.conftest import Site, start_site
from tests.system.test_tutorial import run_step, tutorial_steps
from tests.video_samples import video_bytes

#: Deadline for a fault to show or clear: several monitoring looks plus Kafka's and ZooKeeper's timeouts.
WITHIN_S = 120.0
ENV = {
    "KAFKA_SESSION_TIMEOUT_MS": "6000",
    "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
    "TELEMETRY_HEARTBEAT_INTERVAL_S": "1",
    "MONITORING_POLL_INTERVAL_S": "1",
    "MONITORING_PROBE_TIMEOUT_S": "8",
}


@dataclass
class ZooKeeperSite:
    site: Site
    monitoring: httpx.Client

    @property
    def cluster(self) -> ZooKeeperKafkaCluster:
        kafka = self.site.stack.kafka
        assert isinstance(kafka, ZooKeeperKafkaCluster)
        return kafka

    def kafka_status(self) -> dict[str, Any]:
        response = self.monitoring.get("/api/monitoring/status")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        kafka: dict[str, Any] = body["kafka"]
        kafka["alert_keys"] = {alert["key"] for alert in body["alerts"]}
        return kafka

    def wait_until(self, what: str, condition: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return eventually(self.kafka_status, until=condition, timeout=WITHIN_S, interval=0.5, what=what)


@pytest.fixture(scope="module")
def zk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeperSite]:
    config = StackConfig.on_free_ports(tmp_path_factory.mktemp("zookeeper"), CACHE_DIR, kafka_nodes=2)
    config.zookeeper_port = free_port()
    config.service_env = dict(ENV)
    stack = LocalStack(config)
    try:
        stack.start_infrastructure()
        site = start_site(stack, reencoders=1)
        monitoring = httpx.Client(base_url=f"http://127.0.0.1:{config.monitoring_port}", timeout=30)
        watched = ZooKeeperSite(site, monitoring)
        watched.wait_until(
            "monitoring sees both brokers, ZooKeeper and a controller",
            lambda k: bool(
                k.get("reachable")
                and len(k["brokers"]) == 2
                and k["zookeeper"]["ok"]
                and k["zookeeper"]["controller_id"] is not None
            ),
        )
        yield watched
        site.http.close()
        monitoring.close()
    finally:
        stack.stop()


def test_an_image_and_a_video_end_done_on_the_zookeeper_cluster(zk: ZooKeeperSite) -> None:
    site = zk.site
    image = site.upload_ok()
    response = site.upload(video_bytes(seconds=1), "clip.mp4", "application/octet-stream")
    assert response.status_code == 202, response.text
    assert site.wait_for(image)["status"] == "done"
    assert site.wait_for(response.json()["job_id"], timeout=180)["status"] == "done"
    kafka = zk.kafka_status()
    assert kafka["mode"] == "zookeeper"
    jobs = next(topic for topic in kafka["topics"] if topic["name"] == "jobs.requested")
    assert {len(p["replicas"]) for p in jobs["partitions"]} == {2}, "replication factor 2"
    assert [r["broker_id"] for r in kafka["zookeeper"]["registrations"]] == [0, 1]


def test_reencode_cluster_shows_zookeeper_the_controller_and_its_registrations(zk: ZooKeeperSite) -> None:
    shown = _reencode_cluster(zk)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    text = " ".join(shown.stdout.split())
    assert f"ZooKeeper {zk.cluster.zookeeper_connect} ok" in text
    assert "controller (ZooKeeper's /controller): broker" in text
    assert "epoch" in text
    assert "PLAINTEXT://127.0.0.1:" in text, "the registrations' endpoints"


def test_the_readme_tutorials_topic_commands_work_against_it(zk: ZooKeeperSite) -> None:
    env = dict(os.environ)
    bootstrap = zk.cluster.bootstrap_servers.split(",")[0]
    for step in tutorial_steps():
        run_step(step, env, bootstrap)


def test_a_broker_stopped_under_uploads_loses_no_accepted_upload(zk: ZooKeeperSite) -> None:
    site, cluster = zk.site, zk.cluster
    before = zk.kafka_status()
    controller, epoch = before["zookeeper"]["controller_id"], before["zookeeper"]["controller_epoch"]
    accepted: list[str] = []
    refused: list[int] = []

    def upload_a_few() -> None:
        for _ in range(6):
            response = site.upload(image_bytes())
            if response.status_code == 202:
                accepted.append(response.json()["job_id"])
            else:
                refused.append(response.status_code)

    uploads = threading.Thread(target=upload_a_few)
    uploads.start()
    # The controller itself goes: its successor must be elected through ZooKeeper.
    cluster.stop_node(controller)
    try:
        uploads.join()
        moved = zk.wait_until(
            "the controller moved and partitions are under-replicated",
            lambda k: bool(
                k.get("zookeeper", {}).get("controller_id") not in (None, controller)
                and k["under_replicated_partitions"] > 0
                and f"kafka.broker_down:{controller}" in k["alert_keys"]
            ),
        )
        assert moved["controller_epoch"] > epoch
        assert moved["controller_changes"][0]["from_id"] == controller
        assert [r["broker_id"] for r in moved["zookeeper"]["registrations"]] == [1 - controller]
    finally:
        cluster.start_node(controller)
        cluster.wait_ready()
    assert set(refused) <= {503}, refused
    for job_id in accepted:
        assert site.wait_for(job_id, timeout=120)["status"] == "done", job_id
    zk.wait_until(
        "every partition fully replicated and both brokers registered again",
        lambda k: bool(
            k["under_replicated_partitions"] == 0
            and not any(
                key.startswith(("kafka.under_replicated", "kafka.broker_down")) for key in k["alert_keys"]
            )
            and [r["broker_id"] for r in k["zookeeper"]["registrations"]] == [0, 1]
        ),
    )


def test_zookeeper_stopped_brokers_keep_serving_and_monitoring_alerts(zk: ZooKeeperSite) -> None:
    site, cluster = zk.site, zk.cluster
    kafka = site.stack.config.kafka
    topic = "zookeeper-outage-check"
    asyncio.run(_create_topic(kafka, topic))
    # An existing partition: its leader elected and serving before ZooKeeper goes away.
    assert asyncio.run(_round_trip(kafka, topic, b"before")) == b"before"
    cluster.zookeeper.stop()
    try:
        alert = zk.wait_until("ZooKeeper's alert", lambda k: "zookeeper.unreachable" in k["alert_keys"])
        assert alert["zookeeper"]["reachable"] is False
        assert alert["reachable"] is True, "the brokers still answer"
        # Existing partitions: produced to and fetched from, by a test client and by the site.
        assert (
            asyncio.run(_round_trip(kafka, topic, b"while ZooKeeper is away")) == b"while ZooKeeper is away"
        )
        assert site.wait_for(site.upload_ok(), timeout=120)["status"] == "done"
        down = _reencode_cluster(zk)
        assert down.returncode == 1
        assert "DOWN" in down.stdout
    finally:
        cluster.zookeeper.start()
        cluster.zookeeper.wait_ready()
    zk.wait_until(
        "ZooKeeper's alert cleared, a controller and both brokers registered",
        lambda k: bool(
            "zookeeper.unreachable" not in k["alert_keys"]
            and k["zookeeper"]["reachable"]
            and k["zookeeper"]["controller_id"] is not None
            and [r["broker_id"] for r in k["zookeeper"]["registrations"]] == [0, 1]
        ),
    )


async def _create_topic(kafka: KafkaSettings, name: str) -> None:
    async with admin_client(kafka, "tests") as admin:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=2)])


async def _round_trip(kafka: KafkaSettings, topic: str, value: bytes) -> bytes:
    producer = kafka_producer(kafka, client_id="tests", acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()
    consumer = kafka_consumer(kafka, group_id=None, client_id="tests")
    await consumer.start()
    try:
        partition = TopicPartition(topic, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        records = await consumer.getmany(partition, timeout_ms=30_000)
        return bytes(records[partition][0].value)
    finally:
        await consumer.stop()


def _reencode_cluster(zk: ZooKeeperSite) -> subprocess.CompletedProcess[str]:
    """`reencode cluster` as an operator runs it, with the services' environment."""
    return subprocess.run(
        [sys.executable, "-m", "infra.local", "cluster"],
        env=zk.site.stack.environment() | {"COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
