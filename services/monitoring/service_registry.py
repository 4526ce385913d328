"""Which service instances are alive, judged by their heartbeats, how often each restarted, and what
was dead-lettered.

An instance keeps its id across restarts (the local stack's supervisor and compose's `restart:`
start the same process name again), so a heartbeat with the same `instance_id` and a newer
`started_at` is a restart: counted per instance, shown on the page and logged (a warning when the
previous process died without its farewell beat, i.e. it crashed).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel

from services.monitoring.alerts import Finding
from shared.events import AlertSeverity, DeadLetter, InstanceState, ServiceHeartbeat, ServiceLoad, utc_now

log = logging.getLogger(__name__)

SOURCE = "services"


class ServiceInstance(BaseModel):
    """One instance as its last heartbeat describes it, and whether it counts as up."""

    service: str
    instance_id: str
    version: str
    host: str
    started_at: datetime
    #: When its last heartbeat was sent.
    last_seen: datetime
    silent_for_s: float
    up: bool
    state: InstanceState
    consumes: tuple[str, ...]
    produces: tuple[str, ...]
    load: ServiceLoad
    #: Times this instance id came back with a new process since monitoring first saw it.
    restarts: int = 0
    last_restart_at: datetime | None = None
    #: Whether the last restart followed a crash (no farewell beat), not a stop.
    last_restart_crashed: bool = False


@dataclass
class Restarts:
    count: int = 0
    last_at: datetime | None = None
    crashed: bool = False


@dataclass
class ServiceRegistry:
    #: An instance silent for longer than this is reported down.
    down_after: timedelta = timedelta(seconds=15)
    #: A down instance is dropped (and its alert cleared) after this long: it was scaled away.
    forget_after: timedelta = timedelta(minutes=10)
    _last_beat: dict[str, ServiceHeartbeat] = field(default_factory=dict)
    _dead_letters: deque[DeadLetter] = field(default_factory=lambda: deque(maxlen=100))
    dead_letter_counts: dict[str, int] = field(default_factory=dict)
    _restarts: dict[str, Restarts] = field(default_factory=dict)

    def on_heartbeat(self, beat: ServiceHeartbeat) -> None:
        if utc_now() - beat.occurred_at > self.forget_after:
            return  # history replayed from the topic: that instance is long gone
        last = self._last_beat.get(beat.instance_id)
        # Beats of one instance are keyed to one partition, so they arrive in order; a replayed
        # older beat (a rebalance) must not revive an instance that said goodbye.
        if last is None or beat.occurred_at >= last.occurred_at:
            self._last_beat[beat.instance_id] = beat
            if last is not None and beat.started_at > last.started_at:
                self._restarted(last, beat)

    def _restarted(self, last: ServiceHeartbeat, beat: ServiceHeartbeat) -> None:
        restarts = self._restarts.setdefault(beat.instance_id, Restarts())
        restarts.count += 1
        restarts.last_at = beat.started_at
        restarts.crashed = last.state is not InstanceState.STOPPING
        how = "after a crash (no farewell beat)" if restarts.crashed else "after it stopped"
        log.log(
            logging.WARNING if restarts.crashed else logging.INFO,
            "%s instance %s restarted %s: restart %d, new process started at %s",
            beat.service,
            beat.instance_id,
            how,
            restarts.count,
            beat.started_at.isoformat(),
        )

    def restarts(self, instance_id: str) -> int:
        """How many times `instance_id` came back with a new process."""
        restarts = self._restarts.get(instance_id)
        return 0 if restarts is None else restarts.count

    def on_dead_letter(self, letter: DeadLetter) -> None:
        self._dead_letters.appendleft(letter)
        self.dead_letter_counts[letter.source_topic] = self.dead_letter_counts.get(letter.source_topic, 0) + 1

    def is_up(self, beat: ServiceHeartbeat, now: datetime) -> bool:
        return beat.state is InstanceState.RUNNING and now - beat.occurred_at <= self.down_after

    def services(self, now: datetime | None = None) -> list[ServiceInstance]:
        now = now or utc_now()
        self._forget_old(now)
        beats = sorted(self._last_beat.values(), key=lambda b: (b.service, b.instance_id))
        return [self._instance(beat, now) for beat in beats]

    def _instance(self, beat: ServiceHeartbeat, now: datetime) -> ServiceInstance:
        restarts = self._restarts.get(beat.instance_id, Restarts())
        return ServiceInstance(
            service=beat.service,
            instance_id=beat.instance_id,
            version=beat.version,
            host=beat.host,
            started_at=beat.started_at,
            last_seen=beat.occurred_at,
            silent_for_s=round((now - beat.occurred_at).total_seconds(), 1),
            up=self.is_up(beat, now),
            state=beat.state,
            consumes=beat.consumes,
            produces=beat.produces,
            load=beat.load,
            restarts=restarts.count,
            last_restart_at=restarts.last_at,
            last_restart_crashed=restarts.crashed,
        )

    def up_counts(self, now: datetime | None = None) -> dict[str, int]:
        now = now or utc_now()
        counts: dict[str, int] = {}
        for beat in self._last_beat.values():
            counts[beat.service] = counts.get(beat.service, 0) + int(self.is_up(beat, now))
        return counts

    def findings(self, now: datetime | None = None) -> list[Finding]:
        """An alert per instance that stopped or fell silent, and one per service with none left."""
        now = now or utc_now()
        self._forget_old(now)
        findings = []
        for beat in sorted(self._last_beat.values(), key=lambda b: b.instance_id):
            if self.is_up(beat, now):
                continue
            how = (
                "stopped"
                if beat.state is InstanceState.STOPPING
                else f"silent for {(now - beat.occurred_at).total_seconds():.0f}s"
            )
            findings.append(
                Finding(
                    f"services.down:{beat.instance_id}",
                    SOURCE,
                    AlertSeverity.WARNING,
                    f"{beat.service} instance {beat.instance_id} on {beat.host} is down ({how})",
                )
            )
        for service, up in sorted(self.up_counts(now).items()):
            if up == 0:
                findings.append(
                    Finding(
                        f"services.none:{service}",
                        SOURCE,
                        AlertSeverity.CRITICAL,
                        f"no instance of {service} is running",
                    )
                )
        return findings

    def dead_letters(self) -> list[DeadLetter]:
        return list(self._dead_letters)

    def _forget_old(self, now: datetime) -> None:
        for instance_id, beat in list(self._last_beat.items()):
            if now - beat.occurred_at > self.forget_after:
                del self._last_beat[instance_id]
                self._restarts.pop(instance_id, None)
