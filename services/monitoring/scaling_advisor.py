"""The scaling advisor: how many workers would clear the work queued on Kafka within a target time.

For each group working on `jobs.requested` (image jobs, video probes) or `video.tasks` (renditions),
each look records the sum of the group's committed offsets and of the partitions' end offsets. Over
a sliding window that gives:

- the backlog: records produced and not yet committed (the lag, summed);
- the arrival rate: how fast the end offsets move (producers);
- the drain rate: how fast the committed offsets move (the group's workers), and per worker.

To clear the backlog within `target_s` while work keeps arriving, the group must drain
`arrival + backlog / target_s` records a second; divided by what one worker drains, rounded up, that
is the advice. A group cannot use more workers than its topic has partitions (the extra ones sit
idle), so the advice is capped there and says so when partitions, not workers, are the limit.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from pydantic import BaseModel

from services.monitoring.kafka_cluster import KafkaStatus
from shared.events import JOBS_REQUESTED, VIDEO_TASKS

#: The queues of work whose workers can be scaled (`reencode scale reencoder=N`).
WORK_TOPICS = (JOBS_REQUESTED.name, VIDEO_TASKS.name)


class ScalingAdvice(BaseModel):
    """One group's queue on one topic, and the workers that would clear it in `target_s`."""

    group: str
    topic: str
    #: Records produced and not yet committed by the group.
    backlog: int
    #: Records produced per second, and committed per second (the whole group), over the window.
    arrival_per_s: float
    drain_per_s: float
    #: Members of the group now, and what one of them drains a second (None before any drained).
    workers: int
    per_worker_per_s: float | None
    partitions: int
    target_s: float
    #: Workers that would clear the backlog within `target_s` (None: no drain rate measured yet).
    recommended: int | None
    #: True when more workers than partitions would be needed: partitions are the limit.
    limited_by_partitions: bool = False
    #: Seconds until the backlog is gone at the current rates (None: it is not shrinking).
    clears_in_s: float | None
    #: The advice in words, for the page.
    note: str


def advise(
    *,
    backlog: int,
    arrival_per_s: float,
    drain_per_s: float,
    workers: int,
    partitions: int,
    target_s: float,
) -> tuple[int | None, bool, float | None, str]:
    """(recommended workers, limited by partitions, seconds to clear now, the note) — pure arithmetic."""
    shrinking = drain_per_s - arrival_per_s
    clears_in_s = (
        round(backlog / shrinking, 1) if backlog and shrinking > 0 else (0.0 if not backlog else None)
    )
    if backlog == 0:
        return max(workers, 1 if arrival_per_s > 0 else 0), False, 0.0, "no backlog: the workers keep up"
    if workers == 0 or drain_per_s <= 0:
        # Nothing measured per worker: at least one worker, and no more than one per partition.
        need = 1 if workers == 0 else None
        return need, False, None, "nothing drained yet in the window: no rate to size from"
    per_worker = drain_per_s / workers
    needed = math.ceil((arrival_per_s + backlog / target_s) / per_worker)
    limited = needed > partitions
    recommended = min(needed, partitions)
    if limited:
        note = (
            f"{needed} workers would clear it in {target_s:.0f} s, but only {partitions} partitions "
            f"can be worked at once: add partitions to go further"
        )
    elif recommended > workers:
        note = f"scale to {recommended} workers to clear it within {target_s:.0f} s"
    else:
        note = f"{workers} workers clear it within {target_s:.0f} s"
    return recommended, limited, clears_in_s, note


@dataclass(frozen=True)
class _Sample:
    at: float
    committed: int
    end: int


@dataclass
class ScalingAdvisor:
    """Keeps each work queue's offsets over `window_s` and advises from them."""

    target_s: float = 300.0
    window_s: float = 60.0
    _samples: dict[tuple[str, str], deque[_Sample]] = field(default_factory=dict)

    def observe(
        self,
        group: str,
        topic: str,
        at: float,
        committed: int,
        end: int,
    ) -> None:
        samples = self._samples.setdefault((group, topic), deque())
        samples.append(_Sample(at, committed, end))
        while len(samples) > 2 and samples[1].at <= at - self.window_s:
            samples.popleft()

    def advice(self, group: str, topic: str, workers: int, partitions: int) -> ScalingAdvice | None:
        samples = self._samples.get((group, topic))
        if not samples:
            return None
        first, last = samples[0], samples[-1]
        span = last.at - first.at
        arrival = (last.end - first.end) / span if span > 0 else 0.0
        drain = (last.committed - first.committed) / span if span > 0 else 0.0
        backlog = max(0, last.end - last.committed)
        recommended, limited, clears_in_s, note = advise(
            backlog=backlog,
            arrival_per_s=max(0.0, arrival),
            drain_per_s=max(0.0, drain),
            workers=workers,
            partitions=partitions,
            target_s=self.target_s,
        )
        return ScalingAdvice(
            group=group,
            topic=topic,
            backlog=backlog,
            arrival_per_s=round(max(0.0, arrival), 3),
            drain_per_s=round(max(0.0, drain), 3),
            workers=workers,
            per_worker_per_s=round(drain / workers, 3) if workers and drain > 0 else None,
            partitions=partitions,
            target_s=self.target_s,
            recommended=recommended,
            limited_by_partitions=limited,
            clears_in_s=clears_in_s,
            note=note,
        )

    def look(self, status: KafkaStatus, at: float) -> list[ScalingAdvice]:
        """Record one look at the cluster; the advice for every group working on a work topic."""
        partitions_of = {topic.name: len(topic.partitions) for topic in status.topics}
        advice = []
        for group in status.groups:
            for topic in WORK_TOPICS:
                held = [p for p in group.partitions if p.topic == topic]
                if not held:
                    continue
                self.observe(
                    group.group,
                    topic,
                    at,
                    committed=sum(p.end - p.lag for p in held),
                    end=sum(p.end for p in held),
                )
                owners = {p.owner for p in held if p.owner}
                workers = len(owners) if owners else len(group.members)
                one = self.advice(group.group, topic, workers, partitions_of.get(topic, len(held)))
                if one is not None:
                    advice.append(one)
        return advice
