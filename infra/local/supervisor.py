"""Restarts a service process that died, with growing delays: compose's `restart: unless-stopped`
for the local stack.

The frame exits a service with status 1 when one of its parts dies (shared/frame/runner.py); here,
as under compose, that is the signal to start it again. A service stopped on purpose
(`LocalStack.stop_service`) is no longer watched, so it stays stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from infra.local.processes import ManagedProcess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestartPolicy:
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    #: A process that stayed up this long is healthy again: its next crash waits `first_delay_s`.
    healthy_after_s: float = 60.0

    def delay(self, crashes_in_a_row: int) -> float:
        """Seconds to wait before restart number `crashes_in_a_row` (1-based): doubling, capped."""
        return float(min(self.max_delay_s, self.first_delay_s * 2 ** (crashes_in_a_row - 1)))


@dataclass
class _Watch:
    started_at: float
    crashes_in_a_row: int = 0
    #: When the dead process is due to start again (None while it runs).
    restart_at: float | None = None


class ServiceSupervisor:
    """Watches service processes; `check()` restarts the dead ones once their delay has passed."""

    def __init__(
        self, policy: RestartPolicy | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or RestartPolicy()
        self._clock = clock
        self._watches: dict[str, _Watch] = {}
        #: Restarts made so far, by service instance name.
        self.restarts: dict[str, int] = {}

    def started(self, name: str) -> None:
        watch = self._watches.get(name)
        if watch is None:
            self._watches[name] = _Watch(started_at=self._clock())
        else:
            watch.started_at, watch.restart_at = self._clock(), None

    def forget(self, name: str) -> None:
        """Stopped on purpose: not to be restarted."""
        self._watches.pop(name, None)

    def check(self, services: dict[str, ManagedProcess]) -> list[str]:
        """Restart every watched service that died and whose delay is over; returns their names."""
        now = self._clock()
        restarted = []
        for name, process in services.items():
            watch = self._watches.get(name)
            if watch is None or process.is_running:
                continue
            if watch.restart_at is None:
                up_for = now - watch.started_at
                watch.crashes_in_a_row = (
                    1 if up_for >= self.policy.healthy_after_s else watch.crashes_in_a_row + 1
                )
                delay = self.policy.delay(watch.crashes_in_a_row)
                watch.restart_at = now + delay
                log.warning(
                    "%s exited with code %s after %.0f s; restarting it in %.0f s (see %s)",
                    name,
                    process.returncode,
                    up_for,
                    delay,
                    process.log_path,
                )
            if now >= watch.restart_at:
                process.start()
                self.started(name)
                self.restarts[name] = self.restarts.get(name, 0) + 1
                restarted.append(name)
                log.warning("%s restarted (restart %d)", name, self.restarts[name])
        return restarted
