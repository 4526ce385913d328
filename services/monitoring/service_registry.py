"""Which service instances are alive, judged by their heartbeats, and what was dead-lettered."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.events import DeadLetter, ServiceHeartbeat, utc_now


@dataclass
class ServiceRegistry:
    #: An instance silent for longer than this is reported down.
    down_after: timedelta = timedelta(seconds=15)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    _last_beat: dict[str, ServiceHeartbeat] = field(default_factory=dict)
    _dead_letters: deque[DeadLetter] = field(default_factory=lambda: deque(maxlen=100))

    def __post_init__(self) -> None:
        self._up = Gauge(
            "reencode_service_instances_up",
            "Instances with a recent heartbeat",
            ["service"],
            registry=self.registry,
        )
        self._dead_lettered = Counter(
            "reencode_dead_letters",
            "Messages consumers gave up on",
            ["source_topic"],
            registry=self.registry,
        )

    def on_heartbeat(self, beat: ServiceHeartbeat) -> None:
        self._last_beat[beat.instance_id] = beat
        self._refresh_gauge()

    def on_dead_letter(self, letter: DeadLetter) -> None:
        self._dead_letters.appendleft(letter)
        self._dead_lettered.labels(letter.source_topic).inc()

    def services(self, now: datetime | None = None) -> list[dict[str, object]]:
        now = now or utc_now()
        return [
            {
                "service": beat.service,
                "instance_id": beat.instance_id,
                "host": beat.host,
                "started_at": beat.started_at,
                "last_seen": beat.occurred_at,
                "up": now - beat.occurred_at <= self.down_after,
                "consumes": beat.consumes,
                "produces": beat.produces,
            }
            for beat in sorted(self._last_beat.values(), key=lambda b: (b.service, b.instance_id))
        ]

    def dead_letters(self) -> list[DeadLetter]:
        return list(self._dead_letters)

    def _refresh_gauge(self) -> None:
        counts: dict[str, int] = {}
        for entry in self.services():
            counts[str(entry["service"])] = counts.get(str(entry["service"]), 0) + int(bool(entry["up"]))
        for service, up in counts.items():
            self._up.labels(service).set(up)
