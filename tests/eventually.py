"""Waiting in tests: `eventually(condition)` instead of a hand-written polling loop.

    job = eventually(lambda: site.job(job_id), until=lambda job: job["status"] == "done", timeout=60)

The condition is called until its value is truthy (or passes `until`), and that value is returned;
past the timeout the test fails with what was awaited and the last value seen. `eventually_async` is
the same for a condition that must be awaited (an admin client, a producer in the test's loop).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import pytest

T = TypeVar("T")


def eventually(
    condition: Callable[[], T],
    *,
    until: Callable[[T], object] = bool,
    timeout: float = 60,
    interval: float = 0.5,
    what: str = "",
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """Call `condition` every `interval` s until `until(value)` holds; return that value.

    Exceptions of the `ignoring` types count as "not yet" (a broker that is still electing a
    leader); any other exception fails the test at once. The condition runs at least once, and the
    test fails at the first unmet check that ends after the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except ignoring as error:
            seen: object = error
        else:
            if until(value):
                return value
            seen = value
        if time.monotonic() >= deadline:
            _fail(condition, what, timeout, seen)
        time.sleep(interval)


async def eventually_async(
    condition: Callable[[], Awaitable[T]],
    *,
    until: Callable[[T], object] = bool,
    # The deadline is the point of the helper: unlike asyncio.timeout, it reports the last value.
    timeout: float = 60,  # noqa: ASYNC109
    interval: float = 0.5,
    what: str = "",
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """`eventually` for a condition that is awaited; the pauses between calls do not block the loop."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = await condition()
        except ignoring as error:
            seen: object = error
        else:
            if until(value):
                return value
            seen = value
        if time.monotonic() >= deadline:
            _fail(condition, what, timeout, seen)
        await asyncio.sleep(interval)


def _fail(condition: Callable[[], object], what: str, timeout: float, seen: object) -> NoReturn:
    name = getattr(condition, "__name__", "<lambda>")
    awaited = what or ("the condition" if name == "<lambda>" else name)
    pytest.fail(f"not within {timeout:g} s: {awaited}; last seen: {seen!r}")
