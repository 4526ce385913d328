"""Running one ffmpeg command: progress from its `-progress` output, a hard timeout, no orphans.

The process is killed on timeout, on cancellation (a worker stopping past its grace period) and, through
the kernel's parent-death signal, when the worker itself is killed.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import re
import signal
import sys
from collections import deque
from collections.abc import Awaitable, Callable

from shared.media import MediaRejected

ProgressCallback = Callable[[float], Awaitable[None]]
_PR_SET_PDEATHSIG = 1


#: A line of a command logged with `-loglevel level+...`: `[context @ 0x..] [level] message`.
_LEVELLED = re.compile(r"^(?:\[[^\]]* @ 0x[0-9a-f]+\] )?\[(\w+)\] (.*)$")
#: The levels that say why ffmpeg failed (what `-loglevel error` alone would print).
_ERROR_LEVELS = frozenset({"error", "fatal", "panic"})
#: An input's closing line (verbose): how many bytes ffmpeg read from it.
_BYTES_READ = re.compile(r"^Statistics: (\d+) bytes read, \d+ seeks$")


class EncodeFailed(MediaRejected):
    """ffmpeg could not make the output (damaged input, crash); the message says why."""


class EncodeTimedOut(EncodeFailed):
    pass


def parse_out_time_s(line: str) -> float | None:
    """Seconds encoded so far from one `-progress` line (`out_time_us=` or `out_time_ms=`), else None.

    ffmpeg writes `out_time_ms` in microseconds too (a historical misnomer), and `N/A` before the first
    frame.
    """
    key, _, value = line.strip().partition("=")
    if key not in ("out_time_us", "out_time_ms") or not value.lstrip("-").isdigit():
        return None
    return max(0.0, int(value) / 1_000_000)


class ProgressThrottle:
    """Lets a progress report through at most once per `interval_s` (the first one at once)."""

    def __init__(self, interval_s: float, clock: Callable[[], float]) -> None:
        self._interval_s = interval_s
        self._clock = clock
        self._last: float | None = None

    def due(self) -> bool:
        now = self._clock()
        if self._last is not None and now - self._last < self._interval_s:
            return False
        self._last = now
        return True


def read_log_line(line: str) -> tuple[str | None, int]:
    """(the error `line` says, or None; bytes read it reports, else 0). Untagged lines (a command
    logged at `-loglevel error`) are errors; tagged ones (`level+verbose`) are errors at error level
    and above, and an input's `Statistics: N bytes read`."""
    tagged = _LEVELLED.match(line)
    if tagged is None:
        return line, 0
    level, message = tagged.groups()
    if level in _ERROR_LEVELS:
        return message, 0
    read = _BYTES_READ.match(message)
    return None, int(read.group(1)) if read else 0


async def run_ffmpeg(
    command: list[str],
    *,
    timeout_s: float,
    duration_s: float = 0.0,
    on_progress: ProgressCallback | None = None,
) -> int:
    """Run `command`; `EncodeFailed` with ffmpeg's last error lines if it fails, `EncodeTimedOut` after
    `timeout_s`. `on_progress(fraction)` is called for each progress block when `duration_s` is known.
    Returns the bytes ffmpeg says it read from its inputs (0 unless logged at `level+verbose`).
    """
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    errors: deque[str] = deque(maxlen=5)
    bytes_read = 0

    async def read_progress() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            seconds = parse_out_time_s(raw.decode(errors="replace"))
            if seconds is not None and duration_s > 0 and on_progress is not None:
                await on_progress(min(1.0, seconds / duration_s))

    async def read_errors() -> None:
        nonlocal bytes_read
        assert process.stderr is not None
        async for raw in process.stderr:
            error, read = read_log_line(raw.decode(errors="replace").strip())
            bytes_read += read
            if error:
                errors.append(error)

    try:
        await asyncio.wait_for(asyncio.gather(read_progress(), read_errors(), process.wait()), timeout_s)
    except TimeoutError:
        raise EncodeTimedOut(f"encoding took longer than the {timeout_s:g} s limit per task") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.returncode != 0:
        raise EncodeFailed(describe_failure(process.returncode or 0, list(errors)))
    return bytes_read


def describe_failure(returncode: int, errors: list[str]) -> str:
    """A readable reason: the signal that killed ffmpeg, or its last error line."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"ffmpeg crashed ({name}) while encoding"
    detail = errors[-1] if errors else f"exit status {returncode}"
    return f"ffmpeg could not encode the video: {detail}"


def _die_with_parent() -> None:
    """In the child, before exec: the kernel sends SIGKILL to ffmpeg if the worker dies."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
