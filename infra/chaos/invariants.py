"""The promise, checked from what the site stored: the database's jobs, the storage's objects and
the dead-letter topic, never from what the services say about themselves.

- every upload answered `202` has its job, and it is `done` (the run uploads valid media only);
- no job at all is `queued` or `processing` (those whose 202 the killed frontend never sent too);
- a done job has exactly one set of renditions: each rendition it lists is stored, and nothing
  else is under its prefix but its bookkeeping (manifest, video plan and task markers);
- every original in storage belongs to a job (no orphan originals);
- every poison record is in `dead-letters`, once per consumer group that reads its topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Sized
from dataclasses import dataclass, field
from typing import cast

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from infra.chaos.site import ChaosSite
from services.reencoder.video.completion import AUDIO
from services.reencoder.video.keys import hls_prefix
from shared.database import JobRow, RenditionRow
from shared.events import DEAD_LETTERS, DeadLetter
from shared.kafka.clients import kafka_consumer
from shared.settings import KafkaSettings
from shared.storage import MediaStore

#: What a job may keep next to its renditions: its manifest, a video's plan, task markers and HLS files.
#: A job's own records beside its renditions (the manifest, the video plan, the chunk publisher's).
BOOKKEEPING = ("manifest.json", "plan.json", "rest-published.json")


@dataclass(frozen=True)
class PoisonRecord:
    """A record of garbage written on purpose, and the groups that must each dead-letter it."""

    topic: str
    partition: int
    offset: int
    groups: tuple[str, ...]
    size: int


@dataclass
class Findings:
    """What the checks found; `holds` when the promise was kept."""

    accepted: int = 0
    done: int = 0
    jobs: int = 0
    #: Jobs whose 202 never reached the client (the frontend was killed first), all of them done too.
    unanswered: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    stuck: dict[str, str] = field(default_factory=dict)
    duplicated: dict[str, list[str]] = field(default_factory=dict)
    incomplete: dict[str, list[str]] = field(default_factory=dict)
    orphans: list[str] = field(default_factory=list)
    poison: int = 0
    undelivered_poison: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not (
            self.failed
            or self.lost
            or self.stuck
            or self.duplicated
            or self.incomplete
            or self.orphans
            or self.undelivered_poison
        )

    def violations(self) -> list[str]:
        """One line per broken invariant, with up to five examples."""

        def some(items: Sized) -> str:
            listed = list(items.items()) if isinstance(items, dict) else list(cast(list[str], items))
            return ", ".join(str(item) for item in listed[:5]) + (" ..." if len(listed) > 5 else "")

        return [f"{len(items)} {name}: {some(items)}" for name, items in self._categories() if items]

    def broken(self) -> list[str]:
        """The names of the invariants that do not hold."""
        return [name for name, items in self._categories() if items]

    def _categories(self) -> list[tuple[str, Sized]]:
        return [
            ("failed", self.failed),
            ("lost (202 without a job)", self.lost),
            ("stuck", self.stuck),
            ("duplicated (stray objects)", self.duplicated),
            ("incomplete (renditions missing)", self.incomplete),
            ("orphan originals", self.orphans),
            ("poison records not dead-lettered", self.undelivered_poison),
        ]


def check(site: ChaosSite, accepted: list[str], poison: list[PoisonRecord]) -> Findings:
    """Every invariant, once."""
    findings = Findings(accepted=len(accepted), poison=len(poison))
    with Session(site.engine()) as session:
        jobs = {job.id: job for job in session.scalars(select(JobRow))}
        renditions: dict[str, list[RenditionRow]] = defaultdict(list)
        for rendition in session.scalars(select(RenditionRow)):
            renditions[rendition.job_id].append(rendition)
    store = MediaStore(site.config.storage)
    stored: dict[str, set[str]] = defaultdict(set)
    for key in store.list_keys(store.renditions_bucket, ""):
        stored[key.split("/", 1)[0]].add(key)
    originals = {key.split("/", 1)[0] for key in store.list_keys(store.uploads_bucket, "")}

    findings.jobs = len(jobs)
    accepted_set = set(accepted)
    findings.unanswered = len(set(jobs) - accepted_set)
    findings.lost = [job_id for job_id in accepted if job_id not in jobs]
    for job in jobs.values():
        if job.status in ("queued", "processing"):
            findings.stuck[job.id] = job.status
        elif job.status == "failed":
            findings.failed[job.id] = job.error or "(no reason)"
        elif job.status == "done":
            findings.done += job.id in accepted_set
            stray, missing = rendition_set_problems(job.id, renditions[job.id], stored[job.id])
            if stray:
                findings.duplicated[job.id] = stray
            if missing:
                findings.incomplete[job.id] = missing
    findings.orphans = sorted(originals - set(jobs))
    findings.undelivered_poison = undelivered(site.config.kafka, poison)
    return findings


def rendition_set_problems(
    job_id: str, renditions: list[RenditionRow], stored: set[str]
) -> tuple[list[str], list[str]]:
    """(stray keys, missing keys) of a done job: its listed renditions must be stored, and every
    other object under its prefix must be bookkeeping or part of its HLS package."""
    listed = {rendition.key for rendition in renditions}
    missing = sorted(listed - stored) if renditions else [f"{job_id}: no renditions listed"]
    allowed_prefixes = [f"{job_id}/tasks/", f"{job_id}/variants/"]  # sizes on demand (/img)
    if any(rendition.name == "hls" for rendition in renditions):
        # Each rung's playlist, init and segments, and the audio rendition's (not a listed rendition).
        names = [rendition.name for rendition in renditions] + [AUDIO]
        allowed_prefixes += [hls_prefix(job_id, name) for name in names]
    allowed = listed | {f"{job_id}/{name}" for name in BOOKKEEPING}
    stray = sorted(
        key for key in stored - allowed if not any(key.startswith(prefix) for prefix in allowed_prefixes)
    )
    return stray, missing


def undelivered(kafka: KafkaSettings, poison: list[PoisonRecord]) -> list[str]:
    """The poison records (and groups) with no dead letter yet."""
    if not poison:
        return []
    letters = {(d.source_topic, d.partition, d.offset, d.consumer_group) for d in read_dead_letters(kafka)}
    return [
        f"{p.topic}[{p.partition}]@{p.offset} ({p.size} B) in {group}"
        for p in poison
        for group in p.groups
        if (p.topic, p.partition, p.offset, group) not in letters
    ]


def read_dead_letters(kafka: KafkaSettings, idle_s: float = 3.0) -> list[DeadLetter]:
    """Every dead letter from the beginning (a group-less reader: no group is disturbed)."""

    async def read() -> list[DeadLetter]:
        consumer = kafka_consumer(kafka, DEAD_LETTERS.name, group_id=None, auto_offset_reset="earliest")
        await consumer.start()
        letters: list[DeadLetter] = []
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=int(idle_s * 1000))
                if not batch:
                    return letters
                for records in batch.values():
                    for record in records:
                        with contextlib.suppress(ValidationError):
                            letters.append(DeadLetter.model_validate_json(record.value or b""))
        finally:
            await consumer.stop()

    return asyncio.run(read())


def check_until_held(
    site: ChaosSite, accepted: list[str], poison: list[PoisonRecord], within_s: float, interval_s: float = 5.0
) -> tuple[Findings, float, list[str]]:
    """Check until the invariants hold or `within_s` passed: the last findings, the seconds it took,
    and what the checks before them found broken (what the site was still repairing)."""
    started = time.monotonic()
    waited_for: dict[str, None] = {}
    while True:
        try:
            findings = check(site, accepted, poison)
        except Exception:  # the site is still coming back (a server restarting): check again
            if time.monotonic() - started > within_s:
                raise
        else:
            if findings.holds or time.monotonic() - started > within_s:
                return findings, time.monotonic() - started, list(waited_for)
            waited_for.update(dict.fromkeys(findings.broken()))
        time.sleep(interval_s)
