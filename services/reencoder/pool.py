"""A one-process pool for CPU-bound encoding, with a hard timeout.

Encoding never runs on the event loop (the consumer must keep polling), and a stuck or crashing codec
must not take the worker down: on timeout the child process is killed and a fresh one started.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.pool
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class EncoderPool:
    def __init__(self, processes: int = 1) -> None:
        self._processes = processes
        self._context = multiprocessing.get_context("spawn")
        self._pool = self._new_pool()

    def _new_pool(self) -> multiprocessing.pool.Pool:
        return self._context.Pool(processes=self._processes)

    async def run(self, function: Callable[..., T], *args: Any, timeout_s: float) -> T:
        """Run `function(*args)` in the pool; TimeoutError (and a fresh pool) after `timeout_s`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def resolve(result: T) -> None:
            loop.call_soon_threadsafe(_settle, future, result, None)

        def reject(error: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, future, None, error)

        self._pool.apply_async(function, args, callback=resolve, error_callback=reject)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except (TimeoutError, asyncio.CancelledError):
            self._restart()
            raise

    def _restart(self) -> None:
        self._pool.terminate()
        self._pool = self._new_pool()

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return  # timed out or cancelled meanwhile
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
