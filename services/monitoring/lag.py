"""Consumer lag judged by its trend, as Burrow does, instead of by one number against a threshold.

Every look records, per group and partition, the committed offset and the partition's end offset.
Over a sliding window:

- lag back at zero at any point in the window: **ok** (the group keeps up);
- lag above zero throughout while the committed offset did not move: **stuck** (nobody works on
  it: the consumer hangs, never commits, or the group is empty) — this is the alert;
- commits advance but lag grew at every look: **behind** (working, just slower than producers);
- otherwise, and until the window holds enough looks: **ok**.

A record in hand is committed only when its work ends, and a video task may run far longer than the
window. So a partition that would be stuck is **busy** instead while the member holding it reports
progress on that topic's work within the window (`note_progress`: monitoring feeds it the workers'
`video.progress` events, whose `worker_id` is the client id of the worker's consumers). The consumer
loop takes one record at a time for all its partitions, so every partition of a progressing member
is busy: the one in hand, and those queued behind it. A hung task stops reporting and is stuck one
window later.

Lag is clamped at zero: a committed offset past the end (a look between two fetches) is not
negative lag.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise


class LagStatus(StrEnum):
    OK = "ok"
    BEHIND = "behind"
    #: Would be stuck, but its member reports progress on the work in hand.
    BUSY = "busy"
    STUCK = "stuck"


@dataclass(frozen=True)
class OffsetSample:
    #: Seconds on any monotonic clock.
    at: float
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


PartitionKey = tuple[str, str, int]  # group, topic, partition
WorkerKey = tuple[str, str]  # topic worked on, worker (its consumers' client id)


@dataclass
class LagEvaluator:
    window_s: float = 120.0
    min_samples: int = 3
    _samples: dict[PartitionKey, deque[OffsetSample]] = field(default_factory=dict)
    #: Per partition: the committed offset and when it was first seen at that value.
    _since: dict[PartitionKey, tuple[int, float]] = field(default_factory=dict)
    #: Per topic and worker: when it last reported progress on that topic's work.
    _progress: dict[WorkerKey, float] = field(default_factory=dict)

    def observe(self, key: PartitionKey, sample: OffsetSample) -> None:
        last = self._since.get(key)
        if last is None or last[0] != sample.committed:
            self._since[key] = (sample.committed, sample.at)
        samples = self._samples.setdefault(key, deque())
        samples.append(sample)
        # Keep one sample older than the window, so the window is known to be fully covered.
        while len(samples) > 1 and samples[1].at <= sample.at - self.window_s:
            samples.popleft()

    def note_progress(self, topic: str, worker: str, at: float) -> None:
        """`worker` reported progress on a record of `topic` at `at` (the samples' clock)."""
        key = (topic, worker)
        self._progress[key] = max(at, self._progress.get(key, at))
        for old in [k for k, seen in self._progress.items() if seen < at - 2 * self.window_s]:
            del self._progress[old]  # workers gone or idle for long

    def progressing(self, topic: str, worker: str | None, now: float) -> bool:
        """Whether `worker` reported progress on `topic`'s work within the window before `now`."""
        seen = None if worker is None else self._progress.get((topic, worker))
        return seen is not None and now - seen <= self.window_s

    def status(self, key: PartitionKey, owner: str | None = None) -> LagStatus:
        """The partition's status; `owner` is the client id of the member holding it now."""
        samples = list(self._samples.get(key, ()))
        verdict = judge(samples, self.window_s, self.min_samples)
        if verdict is LagStatus.STUCK and self.progressing(key[1], owner, samples[-1].at):
            return LagStatus.BUSY
        return verdict

    def stuck_for_s(self, key: PartitionKey) -> float:
        """Seconds since the committed offset last moved (0 when unknown)."""
        samples, since = self._samples.get(key), self._since.get(key)
        if not samples or since is None:
            return 0.0
        return samples[-1].at - since[1]

    def forget_except(self, keys: set[PartitionKey]) -> None:
        """Drop partitions no longer seen (a deleted group or topic)."""
        for key in set(self._samples) - keys:
            del self._samples[key]
            self._since.pop(key, None)


def judge(samples: list[OffsetSample], window_s: float, min_samples: int = 3) -> LagStatus:
    """The status of one partition from its samples, oldest first (see the module's rules)."""
    if not samples or samples[-1].lag == 0:
        return LagStatus.OK
    covered = samples[-1].at - samples[0].at >= window_s
    if len(samples) < min_samples or not covered:
        return LagStatus.OK
    if any(sample.lag == 0 for sample in samples):
        return LagStatus.OK
    if samples[0].committed == samples[-1].committed:
        return LagStatus.STUCK
    growing = all(later.lag > earlier.lag for earlier, later in pairwise(samples))
    return LagStatus.BEHIND if growing else LagStatus.OK
