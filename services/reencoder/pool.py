"""A one-process pool for CPU-bound encoding, with a hard timeout and a child whose death is noticed.

Encoding never runs on the event loop (the consumer must keep polling), and a stuck or crashing codec
must not take the worker down: on timeout the child process is killed and a fresh one started. A
child that dies mid-call (the kernel's OOM killer, a codec crash) is noticed at once, through its
process sentinel, and reported with its exit status (`EncoderDied`), instead of leaving the call to
wait for its timeout as `multiprocessing.Pool` does (it silently replaces the dead worker and loses the
call).

The child can be given a memory limit (`RLIMIT_AS`, set by the child itself before its first call):
an allocation past it raises `MemoryError` in the child, which the caller gets back like any other
exception, and a child that dies of it anyway is reported as `EncoderDied`. Either way the limit,
not the machine's OOM killer, stops a file that needs more memory than a worker has.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.connection
import resource
import signal
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

T = TypeVar("T")

#: How long a killed or stopping child may take to be reaped.
REAP_TIMEOUT_S = 5.0


class EncodingTimedOut(TimeoutError):
    """The call ran past its limit; the child was killed."""


class EncoderDied(Exception):
    """The child process died while encoding; `exitcode` is negative for a signal (-9: SIGKILL)."""

    def __init__(self, exitcode: int | None) -> None:
        self.exitcode = exitcode
        super().__init__(describe_death(exitcode))

    @property
    def killed_by_system(self) -> bool:
        """SIGKILL: on a worker, the kernel's (or the container's) out-of-memory killer."""
        return self.exitcode == -signal.SIGKILL


def describe_death(exitcode: int | None) -> str:
    if exitcode == -signal.SIGKILL:
        return "the encoder ran out of memory (killed by the system)"
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"the encoder crashed ({name})"
    return f"the encoder exited unexpectedly (status {exitcode})"


class EncoderPool:
    def __init__(self, memory_limit_bytes: int | None = None) -> None:
        """`memory_limit_bytes`: the child's address-space limit (None: unlimited)."""
        self._memory_limit_bytes = memory_limit_bytes
        self._context = multiprocessing.get_context("spawn")
        # One call at a time; held by the thread that waits on the child, so a call cancelled on the
        # event loop still has its child killed and replaced before the next call starts.
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: multiprocessing.connection.Connection | None = None
        self._start_child()

    async def run(self, function: Callable[..., T], *args: Any, timeout_s: float) -> T:
        """Run `function(*args)` in the child: its result or exception; `EncodingTimedOut` after
        `timeout_s`, `EncoderDied` if the child dies meanwhile (a fresh child follows either)."""
        call = asyncio.ensure_future(asyncio.to_thread(self._call, function, args, timeout_s))
        call.add_done_callback(_retrieve)  # a cancelled caller no longer wants the outcome
        try:
            return await asyncio.shield(call)
        except asyncio.CancelledError:
            self._kill()  # the waiting thread sees the child die, and replaces it
            raise

    def _call(self, function: Callable[..., T], args: tuple[Any, ...], timeout_s: float) -> T:
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._start_child()
            process, conn = self._process, self._conn
            assert process is not None
            assert conn is not None
            try:
                conn.send((function, args))
            except OSError:  # the child died just now (a broken pipe): reported as its death below
                ready: list[Any] = [process.sentinel]
            else:
                ready = multiprocessing.connection.wait([conn, process.sentinel], timeout_s)
            if conn in ready:
                try:
                    ok, value = conn.recv()
                except EOFError:
                    ok, value = None, None  # died while answering
                if ok is not None:
                    if ok:
                        return value  # type: ignore[no-any-return]
                    raise value
            if not ready:
                self._restart()
                raise EncodingTimedOut(f"the encoder took longer than {timeout_s:g} s")
            process.join(REAP_TIMEOUT_S)
            exitcode = process.exitcode
            self._restart()
            raise EncoderDied(exitcode)

    def _start_child(self) -> None:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_serve, args=(child, self._memory_limit_bytes), name="encoder", daemon=True
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent

    def _restart(self) -> None:
        self._stop_child()
        self._start_child()

    def _kill(self) -> None:
        process = self._process
        if process is not None and process.is_alive():
            process.kill()

    def _stop_child(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join(REAP_TIMEOUT_S)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None

    def close(self) -> None:
        self._stop_child()


def _retrieve(call: asyncio.Future[Any]) -> None:
    if not call.cancelled():
        call.exception()


def _serve(conn: multiprocessing.connection.Connection, memory_limit_bytes: int | None = None) -> None:
    """The child: run each call it is sent, answer `(True, result)` or `(False, exception)`."""
    if memory_limit_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    while True:
        try:
            function, args = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        try:
            answer: tuple[bool, Any] = (True, function(*args))
        except MemoryError:
            answer = (False, MemoryError("the encoder ran out of memory"))  # the original may not pickle
        except Exception as error:
            answer = (False, error)
        try:
            conn.send(answer)
        except Exception as error:  # the result or the exception would not pickle
            conn.send((False, RuntimeError(f"the encoder's answer could not be sent back: {error!r}")))
