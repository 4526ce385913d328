"""The encoder pool: results and errors come back, a hung call is killed at its limit, and a child that
dies mid-call (the OOM killer's SIGKILL, a crash) is reported at once by how it died."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator

import pytest

from services.reencoder.job_handler import describe_encoder_death
from services.reencoder.pool import EncoderDied, EncoderPool, EncodingTimedOut


def double(value: int) -> int:
    return 2 * value


def refuse(message: str) -> None:
    raise ValueError(message)


def nap(seconds: float) -> None:
    time.sleep(seconds)


def die_by(signum: int) -> None:
    os.kill(os.getpid(), signum)  # as the kernel's out-of-memory killer does, with SIGKILL


@pytest.fixture
def pool() -> Iterator[EncoderPool]:
    running = EncoderPool()
    try:
        yield running
    finally:
        running.close()


async def test_results_and_exceptions_come_back(pool: EncoderPool) -> None:
    assert await pool.run(double, 21, timeout_s=60) == 42
    with pytest.raises(ValueError, match="not an image"):
        await pool.run(refuse, "not an image", timeout_s=60)


async def test_a_child_killed_by_the_system_is_reported_at_once_as_out_of_memory(pool: EncoderPool) -> None:
    """Before: multiprocessing.Pool replaced the dead child silently and the call waited out its
    timeout, failing the job with "took longer than 300 s"."""
    started = time.monotonic()
    with pytest.raises(EncoderDied) as died:
        await pool.run(die_by, signal.SIGKILL, timeout_s=300)
    assert time.monotonic() - started < 30
    assert died.value.exitcode == -signal.SIGKILL
    assert died.value.killed_by_system
    assert "ran out of memory (killed by the system)" in describe_encoder_death(died.value)
    assert await pool.run(double, 1, timeout_s=60) == 2  # a fresh child took over


async def test_a_crash_is_reported_by_its_signal(pool: EncoderPool) -> None:
    with pytest.raises(EncoderDied) as died:
        await pool.run(die_by, signal.SIGSEGV, timeout_s=300)
    assert not died.value.killed_by_system
    assert "crashed (SIGSEGV)" in describe_encoder_death(died.value)


async def test_a_hung_call_is_killed_at_its_limit_and_the_next_one_runs(pool: EncoderPool) -> None:
    with pytest.raises(EncodingTimedOut):
        await pool.run(nap, 60, timeout_s=0.5)
    assert await pool.run(double, 2, timeout_s=60) == 4


async def test_a_cancelled_call_frees_the_pool(pool: EncoderPool) -> None:
    call = asyncio.ensure_future(pool.run(nap, 60, timeout_s=120))
    await asyncio.sleep(0.5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await pool.run(double, 3, timeout_s=60) == 6
