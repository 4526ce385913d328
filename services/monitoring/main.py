"""Monitoring service: the design's activity and system monitoring.

Consumes:  services.heartbeats  (group "monitoring")
           dead-letters         (group "monitoring")
Produces:  dead-letters, services.heartbeats
HTTP:      GET /api/monitoring/status   services up/down and recent dead letters
           GET /metrics, /healthz
Settings:  KafkaSettings, MonitoringSettings (MONITORING_*).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.monitoring.service_registry import ServiceRegistry
from shared.events import DEAD_LETTERS, SERVICE_HEARTBEATS, DeadLetter, ServiceHeartbeat
from shared.http_service import ServiceSettings, consumer_app, serve_app
from shared.kafka import Delivery
from shared.service import ServiceIdentity

CONSUMER_GROUP = "monitoring"


class MonitoringSettings(ServiceSettings, env_prefix="MONITORING_"):
    port: int = 8002


def create_app(settings: MonitoringSettings | None = None) -> FastAPI:
    settings = settings or MonitoringSettings()
    registry = ServiceRegistry()

    async def on_heartbeat(beat: ServiceHeartbeat, _delivery: Delivery) -> None:
        registry.on_heartbeat(beat)

    async def on_dead_letter(letter: DeadLetter, _delivery: Delivery) -> None:
        registry.on_dead_letter(letter)

    app = consumer_app(
        ServiceIdentity(
            "monitoring",
            settings.instance_id("monitoring"),
            consumes=(SERVICE_HEARTBEATS.name, DEAD_LETTERS.name),
            produces=(DEAD_LETTERS.name, SERVICE_HEARTBEATS.name),
        ),
        consumers=[
            (SERVICE_HEARTBEATS, CONSUMER_GROUP, on_heartbeat),
            (DEAD_LETTERS, CONSUMER_GROUP, on_dead_letter),
        ],
        registry=registry.registry,
    )

    @app.get("/api/monitoring/status", summary="Services up or down, and recent dead letters")
    async def status() -> dict[str, Any]:
        return {
            "services": registry.services(),
            "dead_letters": [letter.model_dump(mode="json") for letter in registry.dead_letters()],
        }

    return app


def main() -> None:
    settings = MonitoringSettings()
    serve_app("monitoring", create_app(settings), settings)
