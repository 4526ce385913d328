"""The local stack's supervisor restarts a service that died, with growing delays (compose's
`restart:`), and leaves one stopped on purpose alone. Real child processes, a fake clock."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from infra.local.processes import ManagedProcess
from infra.local.supervisor import RestartPolicy, ServiceSupervisor


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def crashing(tmp_path: Path) -> ManagedProcess:
    return ManagedProcess("worker-1", [sys.executable, "-c", "raise SystemExit(1)"], tmp_path / "w.log")


def wait_dead(process: ManagedProcess) -> None:
    deadline = time.monotonic() + 30
    while process.is_running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.is_running


def test_a_dead_service_is_restarted_after_growing_delays(tmp_path: Path) -> None:
    clock = Clock()
    supervisor = ServiceSupervisor(RestartPolicy(first_delay_s=1, max_delay_s=4, healthy_after_s=60), clock)
    process = crashing(tmp_path)
    process.start()
    supervisor.started("worker-1")
    services = {"worker-1": process}
    delays = []
    for _ in range(4):
        wait_dead(process)
        died_at = clock.now
        assert supervisor.check(services) == []  # the delay starts now
        while not supervisor.check(services):
            clock.now += 0.5
        delays.append(clock.now - died_at)
    assert delays == [1, 2, 4, 4]
    assert supervisor.restarts == {"worker-1": 4}
    process.stop()


def test_a_service_that_ran_long_enough_starts_its_backoff_over(tmp_path: Path) -> None:
    clock = Clock()
    supervisor = ServiceSupervisor(RestartPolicy(first_delay_s=1, max_delay_s=30, healthy_after_s=60), clock)
    process = crashing(tmp_path)
    process.start()
    supervisor.started("worker-1")
    wait_dead(process)
    clock.now = 500.0  # it had been up for a long time before it died
    supervisor.check({"worker-1": process})
    clock.now += 1
    assert supervisor.check({"worker-1": process}) == ["worker-1"]
    process.stop()


def test_a_service_stopped_on_purpose_stays_stopped(tmp_path: Path) -> None:
    clock = Clock()
    supervisor = ServiceSupervisor(RestartPolicy(first_delay_s=0), clock)
    process = crashing(tmp_path)
    process.start()
    supervisor.started("worker-1")
    supervisor.forget("worker-1")
    wait_dead(process)
    clock.now += 100
    assert supervisor.check({"worker-1": process}) == []
