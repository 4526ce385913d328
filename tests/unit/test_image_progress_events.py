"""An image job reports its steps' progress only once it has been busy a second (issue #18): a photo
done in a fraction of a second sends no 0.1 and 0.6 status events nobody could see."""

from __future__ import annotations

from typing import Any

from services.reencoder.job_handler import PROGRESS_AFTER_S, ImageJobHandler
from services.reencoder.timing import PhaseTimer


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _handler(sent: list[float]) -> ImageJobHandler:
    handler = ImageJobHandler.__new__(ImageJobHandler)  # only the progress path is exercised
    handler._progress = lambda _job, fraction: sent.append(fraction)  # type: ignore[method-assign,assignment]
    return handler


def _busy(timer: PhaseTimer, clock: _Clock, seconds: float) -> None:
    with timer.phase("encode"):
        clock.now += seconds


def test_a_fast_job_sends_no_step_progress_and_a_slow_one_does() -> None:
    sent: list[float] = []
    handler, clock = _handler(sent), _Clock()
    timer = PhaseTimer(clock=clock)
    job: Any = object()
    _busy(timer, clock, 0.2)
    handler._progress_if_slow(job, 0.1, timer)
    assert sent == []
    _busy(timer, clock, PROGRESS_AFTER_S)
    handler._progress_if_slow(job, 0.6, timer)
    assert sent == [0.6]
