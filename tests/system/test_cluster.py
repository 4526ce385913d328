"""The site on three Kafka nodes (replication factor 3, min.insync.replicas 2), as compose runs it:
the node leading the job partitions dies under upload load, and no accepted upload is lost."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from aiokafka.errors import KafkaError

from infra.local.processes import wait_for_port
from infra.local.stack import LocalStack, StackConfig
from infra.ops.cluster_view import describe_topics
from shared.events import JOBS_REQUESTED, STORAGE_EVENTS
from shared.kafka.cluster import TopicView
from tests.conftest import CACHE_DIR
from tests.eventually import eventually
from tests.media_samples import image_bytes
from tests.system.conftest import Site, read_topic

UPLOADS = 10
KILL_AFTER = 3


@pytest.fixture(scope="module")
def cluster_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    config = StackConfig.on_free_ports(tmp_path_factory.mktemp("cluster"), CACHE_DIR, kafka_nodes=3)
    config.service_env = {"KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "1000"}
    stack = LocalStack(config)
    try:
        stack.start_infrastructure()
        # Only what an upload goes through: the frontend and two workers (two cores are shared).
        frontend = stack.start_service("frontend", "services.frontend")
        for name in ("reencoder-1", "reencoder-2"):
            stack.start_reencoder(name)
        wait_for_port("127.0.0.1", config.frontend_port, timeout=60, process=frontend)
        with httpx.Client(base_url=config.frontend_url, timeout=30) as http:
            site = Site(stack, http)
            site.sign_up()
            yield site
    finally:
        stack.stop()


def jobs_topic(stack: LocalStack) -> TopicView:
    return asyncio.run(describe_topics(stack.config.kafka, [JOBS_REQUESTED.name]))[0]


class UploadLoad(threading.Thread):
    """Uploads one after another, remembering what each got: 202 with a job id, or a refusal."""

    def __init__(self, site: Site) -> None:
        super().__init__(daemon=True)
        self.site = site
        self.accepted: list[str] = []
        self.refused: list[str] = []
        self.started_enough = threading.Event()

    def run(self) -> None:
        # The site's signed-in caller, on a client of this thread's own.
        base_url, headers = self.site.stack.config.frontend_url, self.site.http.headers
        with httpx.Client(base_url=base_url, headers=headers, timeout=90) as http:
            for index in range(UPLOADS):
                files = {"file": (f"load-{index}.jpg", image_bytes(320, 240), "image/jpeg")}
                response = http.post("/api/uploads", files=files)
                if response.status_code == 202:
                    self.accepted.append(response.json()["job_id"])
                else:
                    self.refused.append(f"{response.status_code} {response.text}")
                if len(self.accepted) >= KILL_AFTER:
                    self.started_enough.set()
        self.started_enough.set()


def test_topics_are_replicated_three_times(cluster_site: Site) -> None:
    topic = jobs_topic(cluster_site.stack)
    assert topic.replication_factor == 3
    assert all(len(p.isr) == 3 for p in topic.partitions)


def test_minio_announces_each_stored_original_on_storage_events(cluster_site: Site) -> None:
    job_id = cluster_site.upload_ok(image_bytes(320, 240), "announced.jpg")
    key = f"{cluster_site.stack.config.storage.uploads_bucket}/{job_id}/original"
    eventually(
        lambda: any(event.key == key for event in read_topic(cluster_site.stack, STORAGE_EVENTS, timeout=2)),
        timeout=60,
        interval=0,
        what=f"a notification for {key} on {STORAGE_EVENTS.name}",
    )
    event = next(e for e in read_topic(cluster_site.stack, STORAGE_EVENTS) if e.key == key)
    assert event.event_name.startswith("s3:ObjectCreated:")


def test_killing_the_leader_of_the_job_partitions_loses_no_accepted_upload(cluster_site: Site) -> None:
    site = cluster_site
    kafka = site.stack.kafka
    assert kafka is not None
    before = jobs_topic(site.stack)
    victim, led = Counter(p.leader for p in before.partitions).most_common(1)[0]

    load = UploadLoad(site)
    load.start()
    load.started_enough.wait(timeout=120)
    assert len(load.accepted) >= KILL_AFTER, f"uploads were not accepted: {load.refused}"
    accepted_before_kill = len(load.accepted)
    kafka.kill_node(victim)
    load.join(timeout=600)
    assert not load.is_alive(), "the uploads did not finish"

    # Leadership moved off the dead node; the two survivors are the in-sync replicas.
    after = _wait_for_leaders_without(site.stack, victim)
    assert all(victim not in p.isr for p in after.partitions)
    # Writes go on with two of three copies (min.insync.replicas=2): uploads after the kill succeed.
    assert len(load.accepted) > accepted_before_kill, f"nothing accepted after the kill: {load.refused}"
    # A refusal is only ever "upload again" (503), never a lost 202.
    assert all(refusal.startswith("503") for refusal in load.refused), load.refused
    for job_id in load.accepted:
        job = site.wait_for(job_id, timeout=180)
        assert job["status"] == "done", f"{job_id} of {len(load.accepted)} (victim led {led}): {job}"


def _wait_for_leaders_without(stack: LocalStack, node: int, timeout: float = 60) -> TopicView:
    return eventually(
        lambda: jobs_topic(stack),
        until=lambda topic: node not in topic.leaders() and all(node not in p.isr for p in topic.partitions),
        timeout=timeout,
        interval=0.5,
        what=f"node {node} neither leading nor in sync",
        ignoring=(KafkaError,),  # the client may ask the dead node first
    )
