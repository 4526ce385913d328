"""Consumer lag judged by its trend, as Burrow does, instead of by one number against a threshold.

Every look records, per group and partition, the committed offset and the partition's end offset.
Over a sliding window:

- lag back at zero at any point in the window: **ok** (the group keeps up);
- lag above zero throughout while the committed offset did not move: **stuck** (nobody works on
  it: the consumer hangs, never commits, or the group is empty) — this is the alert;
- commits advance but lag grew at every look: **behind** (working, just slower than producers);
- otherwise, and until the window holds enough looks: **ok**.

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


@dataclass
class LagEvaluator:
    window_s: float = 120.0
    min_samples: int = 3
    _samples: dict[PartitionKey, deque[OffsetSample]] = field(default_factory=dict)
    #: Per partition: the committed offset and when it was first seen at that value.
    _since: dict[PartitionKey, tuple[int, float]] = field(default_factory=dict)

    def observe(self, key: PartitionKey, sample: OffsetSample) -> None:
        last = self._since.get(key)
        if last is None or last[0] != sample.committed:
            self._since[key] = (sample.committed, sample.at)
        samples = self._samples.setdefault(key, deque())
        samples.append(sample)
        # Keep one sample older than the window, so the window is known to be fully covered.
        while len(samples) > 1 and samples[1].at <= sample.at - self.window_s:
            samples.popleft()

    def status(self, key: PartitionKey) -> LagStatus:
        return judge(list(self._samples.get(key, ())), self.window_s, self.min_samples)

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
