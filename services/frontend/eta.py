"""An estimate of a running job's time left, from how fast its progress has been growing."""

from __future__ import annotations

from collections.abc import Callable

#: Too little movement gives wild estimates: wait for this much before the first one.
MIN_OBSERVED_S = 1.0


class EtaEstimator:
    """Feed it the job's progress as it changes; it answers seconds left (None while unknown).

    The rate is measured from the first time progress was seen above zero, so it includes every
    worker sharing the job: two workers on one video halve the estimate.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._first: tuple[float, float] | None = None

    def update(self, progress: float) -> float | None:
        if progress <= 0.0 or progress >= 1.0:
            return None
        now = self._clock()
        if self._first is None:
            self._first = (now, progress)
            return None
        started_at, started_progress = self._first
        elapsed = now - started_at
        if elapsed < MIN_OBSERVED_S or progress <= started_progress:
            return None
        rate = (progress - started_progress) / elapsed
        return round((1.0 - progress) / rate)
