"""The faults, one at a time, each with the time the site took to recover from it.

Recovery is measured from the end of a fault (the kill itself, or the moment a stopped server is
back) until the site works again: for a worker killed mid-job, until that very job is `done`; for
every other fault, until a fresh probe upload is answered `202` and `done`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

from infra.chaos.invariants import PoisonRecord, undelivered
from infra.chaos.load import Media, Uploader
from infra.chaos.site import ChaosSite
from infra.ops.cluster_view import describe_topics
from services.frontend.main import FRONTEND
from services.reencoder.main import REENCODER
from shared.events import JOBS_REQUESTED
from shared.frame.declaration import ServiceDeclaration
from shared.kafka.clients import kafka_producer
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

#: The services the chaos site runs: a poison record goes to every topic they consume in a group.
RUNNING = (FRONTEND, REENCODER)
#: A 200 KB binary value: far above what a dead letter keeps (it must still fit).
LARGE_POISON_BYTES = 200 * 1024


@dataclass(frozen=True)
class FaultRecord:
    kind: str
    detail: str
    #: Seconds from the end of the fault until the site worked again; None: not within the deadline.
    recovered_s: float | None


def consumed_in_groups(declarations: tuple[ServiceDeclaration, ...] = RUNNING) -> dict[str, tuple[str, ...]]:
    """Topic -> the groups that handle it record by record, over the running services."""
    groups: dict[str, list[str]] = {}
    for declaration in declarations:
        for entry in declaration.handled:
            assert entry.group is not None  # `handled` keeps only grouped entries
            groups.setdefault(entry.topic.name, []).append(entry.group)
    return {topic: tuple(names) for topic, names in groups.items()}


class FaultInjector:
    """Injects the faults into `site`, uploading probes and victims as `prober`."""

    def __init__(
        self,
        site: ChaosSite,
        prober: Uploader,
        probe: Media,
        victim_image: Media,
        victim_video: Media,
        recovery_s: float,
        seed: int,
    ) -> None:
        self.site = site
        self.prober = prober
        self.probe_media = probe
        self.victim_image, self.victim_video = victim_image, victim_video
        self.recovery_s = recovery_s
        self.rng = random.Random(seed)
        self.records: list[FaultRecord] = []
        #: Worker kills that found no job in hand (it finished first) and killed an idle worker.
        self.idle_kills = 0
        self.kills_by_worker: Counter[str] = Counter()

    # --- recovery -------------------------------------------------------------------------------

    def probe(self, since: float) -> float | None:
        """Seconds from `since` until a fresh upload is accepted and done; None past the deadline."""
        deadline = since + self.recovery_s
        while time.monotonic() < deadline:
            job_id = self.prober.upload(self.probe_media)
            if job_id is None:
                time.sleep(1.0)
                continue
            status = self.prober.wait_for(job_id, ("done", "failed"), deadline - time.monotonic())
            return time.monotonic() - since if status == "done" else None
        return None

    def _record(self, kind: str, detail: str, recovered_s: float | None) -> FaultRecord:
        record = FaultRecord(kind, detail, recovered_s)
        self.records.append(record)
        took = "not recovered" if recovered_s is None else f"recovered in {recovered_s:.1f} s"
        log.info("chaos: %s (%s): %s", kind, detail, took)
        return record

    # --- processes ------------------------------------------------------------------------------

    def kill_worker_mid_job(self, number: int, video_every: int) -> FaultRecord:
        """Upload a job, wait until a worker holds it, SIGKILL that worker; recovered once the job is done."""
        video = bool(video_every) and number % video_every == 0
        job_id = None
        deadline = time.monotonic() + self.recovery_s
        while job_id is None:
            job_id = self.prober.upload(self.victim_video if video else self.victim_image)
            if job_id is None:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the site accepted no upload for {self.recovery_s:.0f} s")
                time.sleep(1.0)
        worker = self._wait_for_worker(job_id, timeout_s=60.0)
        if worker is None:
            self.idle_kills += 1
            worker = self.rng.choice(self.site.workers)
        else:
            time.sleep(self.rng.uniform(0.0, 0.3))  # somewhere in the job, not always at its start
        with self.site.lock:
            killed_at = time.monotonic()
            self.site.service(worker).kill()
        self.kills_by_worker[worker] += 1
        status = self.prober.wait_for(job_id, ("done", "failed"), self.recovery_s, interval_s=0.5)
        recovered = time.monotonic() - killed_at if status == "done" else None
        return self._record(
            "worker SIGKILL mid-job", f"{worker}, {'video' if video else 'image'} {job_id}", recovered
        )

    def _wait_for_worker(self, job_id: str, timeout_s: float) -> str | None:
        """The worker (instance name) processing `job_id`, or None if it finished before we saw one."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            seen = self.prober.status(job_id)
            if seen is not None:
                status, worker = seen
                if status == "processing" and worker in self.site.workers:
                    return worker
                if status in ("done", "failed"):
                    return None
            time.sleep(0.05)
        return None

    def kill_frontend_mid_upload(self, upload: Media) -> FaultRecord:
        """SIGKILL the frontend while an upload is in flight; the supervisor starts it again."""
        answer: list[str | None] = []
        uploading = threading.Thread(target=lambda: answer.append(self.prober.upload(upload)), daemon=True)
        uploading.start()
        time.sleep(self.rng.uniform(0.02, 0.25))
        with self.site.lock:
            killed_at = time.monotonic()
            self.site.service("frontend").kill()
        uploading.join(timeout=120)
        outcome = "answered 202 first" if answer and answer[0] else "interrupted"
        return self._record("frontend SIGKILL mid-upload", outcome, self.probe(killed_at))

    # --- servers --------------------------------------------------------------------------------

    def kill_jobs_leader(self, outage_s: float) -> FaultRecord:
        """SIGKILL the broker leading most `jobs.requested` partitions; start it again after `outage_s`."""
        kafka = self.site.stack.kafka
        assert kafka is not None
        topic = asyncio.run(describe_topics(self.site.config.kafka, [JOBS_REQUESTED.name]))[0]
        victim, led = Counter(p.leader for p in topic.partitions).most_common(1)[0]
        kafka.kill_node(victim)
        time.sleep(outage_s)
        kafka.start_node(victim)
        back_at = time.monotonic()
        kafka.wait_ready(timeout=self.recovery_s)
        return self._record(
            "broker SIGKILL", f"node {victim}, leader of {led}/6 partitions", self.probe(back_at)
        )

    def stop_minio(self, outage_s: float) -> FaultRecord:
        minio = self.site.stack.minio
        assert minio is not None
        minio.stop()
        time.sleep(outage_s)
        minio.start()
        back_at = time.monotonic()
        minio.wait_ready(timeout=120)
        return self._record("MinIO stopped", f"{outage_s:.0f} s", self.probe(back_at))

    def stop_postgres(self, outage_s: float) -> FaultRecord:
        postgres = self.site.postgres
        postgres.stop()
        time.sleep(outage_s)
        postgres.start()
        back_at = time.monotonic()
        postgres.wait_ready(timeout=120)
        return self._record("PostgreSQL stopped", f"{outage_s:.0f} s", self.probe(back_at))

    # --- records --------------------------------------------------------------------------------

    def poison(self) -> list[PoisonRecord]:
        """Garbage bytes and a 200 KB binary record on every topic the running services consume."""
        values = [b"\x00chaos: not an event \xff{", self.rng.randbytes(LARGE_POISON_BYTES)]
        written = asyncio.run(produce_poison(self.site.config.kafka, consumed_in_groups(), values))
        sent_at = time.monotonic()
        recovered = None
        while time.monotonic() < sent_at + self.recovery_s:
            if not undelivered(self.site.config.kafka, written):
                recovered = time.monotonic() - sent_at
                break
            time.sleep(2.0)
        topics = len({p.topic for p in written})
        self._record("poison records", f"{len(written)} on {topics} topics, all dead-lettered", recovered)
        return written


async def produce_poison(
    kafka: KafkaSettings,
    topics: dict[str, tuple[str, ...]],
    values: list[bytes],
    keys: tuple[bytes | None, ...] = (b"chaos-poison",),
) -> list[PoisonRecord]:
    """Each of `values` under each of `keys` on every topic of `topics` (topic -> its groups)."""
    producer = kafka_producer(kafka, acks="all", max_request_size=1024 * 1024, client_id="chaos")
    await producer.start()
    try:
        written = []
        for topic, groups in topics.items():
            for key in keys:
                for value in values:
                    sent = await producer.send_and_wait(topic, value, key=key)
                    written.append(PoisonRecord(topic, sent.partition, sent.offset, groups, len(value)))
        return written
    finally:
        await producer.stop()
