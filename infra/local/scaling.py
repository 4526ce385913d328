"""`reencode scale reencoder=N` on a running local stack: `docker compose up --scale` without compose.

The running stack (`make run`, `make run-full`) and the command are two processes; they meet in the
stack's state folder. The command writes the wanted instance counts to `scale.json`; the stack's
once-a-second loop (`Scaler.apply`) starts the missing instances and stops the extra ones, newest
first, and records what runs in `scale.state.json`, which the command waits on. A removed worker is
stopped like compose stops a container (SIGTERM, up to the grace period): it finishes or hands back
the work in hand and leaves its consumer group, so its partitions move at once.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from infra.local.processes import free_port, wait_for_port
from infra.local.stack import SERVICE_STOP_TIMEOUT_S

if TYPE_CHECKING:
    from infra.local.full import FullTopology
    from infra.local.stack import LocalStack

log = logging.getLogger(__name__)

REQUEST_FILE = "scale.json"
STATE_FILE = "scale.state.json"

#: Services whose instances may be added or removed at run time on any stack, and the fewest each may have.
SCALABLE: dict[str, int] = {"reencoder": 0, "metrics": 1}
#: `make run-full` scales its frontends too: nginx's upstream is re-rendered and reloaded each time.
FULL_SCALABLE: dict[str, int] = SCALABLE | {"frontend": 1}
#: Why plain `make run` refuses what only the full topology can scale.
REFUSALS = {
    "frontend": (
        "frontend can only be scaled on `make run-full` (nginx in front): `make run` serves its one "
        "frontend on its own port, with no load balancer to share requests; run `reencode scale --full "
        "frontend=N` against `make run-full`"
    ),
}


class ScaleError(ValueError):
    """A scale request that cannot be met (unknown service, a count out of range, a bad spelling)."""


def parse_request(pairs: Iterable[str]) -> dict[str, int]:
    """`["reencoder=4", "metrics=2"]` -> `{"reencoder": 4, "metrics": 2}`, with readable refusals."""
    wanted: dict[str, int] = {}
    for pair in pairs:
        match = re.fullmatch(r"([a-z][a-z-]*)=(\d{1,3})", pair.strip())
        if match is None:
            raise ScaleError(f"{pair!r}: write SERVICE=COUNT, e.g. reencoder=4")
        service, count = match[1], int(match[2])
        if service not in FULL_SCALABLE:
            raise ScaleError(f"{service} cannot be scaled; scalable: {', '.join(FULL_SCALABLE)}")
        if count < FULL_SCALABLE[service]:
            raise ScaleError(f"{service} needs at least {FULL_SCALABLE[service]} instance(s)")
        wanted[service] = count
    if not wanted:
        raise ScaleError("say what to scale, e.g. reencoder=4")
    return wanted


def request_scale(state_dir: Path, wanted: dict[str, int]) -> None:
    """Ask the stack running on `state_dir` for these counts (merged with earlier requests)."""
    path = state_dir / REQUEST_FILE
    current = _read_json(path)
    _write_json(path, current | wanted)


def refusal(state_dir: Path, wanted: dict[str, int]) -> str | None:
    """Why the stack on `state_dir` cannot scale some of `wanted` (it records what it can), or None
    (also when no stack ever recorded there: the request then waits for one)."""
    recorded = _read_json(state_dir / STATE_FILE)
    if not recorded:
        return None
    missing = [service for service in wanted if service not in recorded]
    if not missing:
        return None
    return "; ".join(REFUSALS.get(s, f"{s} cannot be scaled on this stack") for s in missing)


def running_instances(state_dir: Path) -> dict[str, list[str]]:
    """What the stack on `state_dir` last said it runs, by scalable service."""
    recorded = _read_json(state_dir / STATE_FILE).items()
    return {service: [str(n) for n in names] for service, names in recorded if isinstance(names, list)}


def compose_command(wanted: dict[str, int]) -> str:
    """The same request for the compose deployment."""
    scales = " ".join(f"--scale {service}={count}" for service, count in sorted(wanted.items()))
    return f"docker compose up -d --no-recreate {scales}"


def instances_of(service: str, names: Iterable[str]) -> list[str]:
    """The running instances of `service` (`service` itself, `service-2`, ...), oldest index first."""
    numbered = [n for n in names if n == service or re.fullmatch(rf"{re.escape(service)}-\d+", n)]
    return sorted(numbered, key=_index)


def _index(name: str) -> int:
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else 1


@dataclass
class Scaler:
    """Brings a running stack to the counts asked in its state folder's `scale.json`."""

    state_dir: Path
    #: Starts the instance `name` of `service`.
    start: Callable[[str, str], None]
    #: Takes the instance `name` out of the stack and returns its graceful stop (run on a thread).
    remove: Callable[[str], Callable[[], None]]
    #: The names of the instances running now.
    running: Callable[[], Iterable[str]]
    #: What this stack can scale, and the fewest instances of each.
    scalable: dict[str, int] = field(default_factory=lambda: dict(SCALABLE))
    _seen: str | None = None
    _stopping: list[threading.Thread] = field(default_factory=list)

    def apply(self) -> list[str]:
        """Start and stop instances as asked; returns what it changed (e.g. `+reencoder-3`)."""
        path = self.state_dir / REQUEST_FILE
        try:
            text = path.read_text()
        except FileNotFoundError:
            return []
        if text == self._seen:  # compared whole: two requests within one mtime tick both count
            return []
        self._seen = text
        changes: list[str] = []
        for service, count in _read_json(path).items():
            if service in self.scalable and isinstance(count, int) and count >= self.scalable[service]:
                changes += self._scale(service, count)
        self.record()
        return changes

    def reset(self) -> None:
        """At the stack's start: an earlier run's request does not apply to this one."""
        (self.state_dir / REQUEST_FILE).unlink(missing_ok=True)
        self.record()

    def record(self) -> None:
        names = list(self.running())
        _write_json(self.state_dir / STATE_FILE, {s: instances_of(s, names) for s in self.scalable})

    def wait_for_stops(self, timeout_s: float) -> None:
        for thread in self._stopping:
            thread.join(timeout_s)
        self._stopping = [t for t in self._stopping if t.is_alive()]

    def _scale(self, service: str, count: int) -> list[str]:
        instances = instances_of(service, self.running())
        changes = []
        index = max((_index(n) for n in instances), default=0)
        while len(instances) < count:
            index += 1
            name = f"{service}-{index}"
            self.start(service, name)
            instances.append(name)
            changes.append(f"+{name}")
        for name in reversed(instances[count:]):  # the newest go first
            stop = self.remove(name)
            thread = threading.Thread(target=stop, name=f"stop-{name}", daemon=True)
            thread.start()
            self._stopping.append(thread)
            changes.append(f"-{name}")
        if changes:
            log.info("scaled %s to %d: %s", service, count, " ".join(changes))
        return changes


def _read_json(path: Path) -> dict[str, object]:
    try:
        value = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _write_json(path: Path, value: dict[str, object]) -> None:
    # Written whole and renamed, so the other process never reads half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(value, indent=1, sort_keys=True))
    partial.replace(path)


def stack_scaler(stack: LocalStack) -> Scaler:
    """The scaler of `make run`'s stack: workers as `reencoder-N`, metrics instances on ports of their own."""

    def start(service: str, name: str) -> None:
        if service == "reencoder":
            stack.start_reencoder(name)
        else:
            stack.start_service(name, f"services.{service}", {"METRICS_PORT": str(free_port())})

    return Scaler(stack.config.state_dir, start, partial(_take_out, stack), lambda: list(stack.services))


def full_scaler(topology: FullTopology) -> Scaler:
    """The scaler of `make run-full`: new instances get compose's command and environment, with
    loopback ports of their own for what compose serves on a port per container. A frontend joins
    nginx's upstream once it answers, and leaves it before it is stopped (`FullTopology.sync_lb`)."""

    def start(service_name: str, name: str) -> None:
        service = topology.compose[service_name]
        ports = sorted(key for key in service.environment if key.endswith("_PORT"))
        topology.served_ports.setdefault(name, {key: free_port() for key in ports})
        http_port = free_port() if service_name in ("metrics", "frontend") else None
        process = topology.start_instance(service, name, http_port)
        if service_name == "frontend" and http_port is not None:
            wait_for_port("127.0.0.1", http_port, timeout=90, process=process)
            topology.sync_lb()

    def remove(name: str) -> Callable[[], None]:
        service, _port = topology.instances.pop(name, (None, None))
        if service is not None and service.name == "frontend":
            topology.sync_lb()  # no new request reaches it; its own stop finishes those in flight
        return _take_out(topology.stack, name)

    def running() -> list[str]:
        return list(topology.stack.services)

    return Scaler(topology.config.state_dir, start, remove, running, dict(FULL_SCALABLE))


def _take_out(stack: LocalStack, name: str) -> Callable[[], None]:
    # Out of the supervisor's view at once (this thread owns the dict); the stop itself may take
    # the whole grace period, so the caller runs it on a thread.
    process = stack.services.pop(name)
    stack.supervisor.forget(name)
    return partial(process.stop, timeout=SERVICE_STOP_TIMEOUT_S)
