"""The monitoring API's answers: typed models with the page's field names, documented in /docs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client import generate_latest

from services.monitoring.alerts import Finding
from services.monitoring.api import build_router
from services.monitoring.database_stats import DatabaseWatcher, SqliteView
from services.monitoring.monitor import Monitor
from services.monitoring.settings import MonitoringSettings
from services.monitoring.storage_stats import StorageWatcher
from services.monitoring.views import MonitoringStatus, NotExamined
from shared.database import create_schema, make_engine
from shared.events import (
    ActivityKind,
    AlertSeverity,
    LogLevel,
    LogRecord,
    ServiceHeartbeat,
    UserActivity,
    utc_now,
)
from shared.settings import DatabaseSettings, KafkaSettings, StorageSettings


def monitor_with_history() -> Monitor:
    monitor = Monitor(
        MonitoringSettings(), KafkaSettings(), DatabaseSettings(), StorageSettings(), client_id="m1"
    )
    now = utc_now()
    monitor.registry.on_heartbeat(
        ServiceHeartbeat(
            correlation_id="c",
            service="reencoder",
            instance_id="r1",
            host="h",
            started_at=now - timedelta(minutes=1),
        )
    )
    for level in (LogLevel.INFO, LogLevel.ERROR):
        monitor.logs.add(
            LogRecord(
                correlation_id="story",
                service="frontend",
                instance_id="f1",
                level=level,
                logger="x",
                message=f"a {level.value} line",
            )
        )
    monitor.activity.add(UserActivity(correlation_id="c", kind=ActivityKind.UPLOADED, user_id="ann"))
    finding = Finding("storage.unreachable", "storage", AlertSeverity.CRITICAL, "down")
    monitor.alerts.reconcile("storage", [finding], now)
    return monitor


async def test_every_route_answers_its_model_with_the_pages_field_names() -> None:
    monitor = monitor_with_history()
    app = FastAPI()
    app.include_router(build_router(monitor))
    async with AsyncClient(transport=ASGITransport(app), base_url="http://monitoring") as client:
        status = (await client.get("/api/monitoring/status")).json()
        alerts = (await client.get("/api/monitoring/alerts")).json()
        logs = (await client.get("/api/monitoring/logs", params={"level": "error"})).json()
        trace = (await client.get("/api/monitoring/traces/story")).json()
        activity = (await client.get("/api/monitoring/activity")).json()
        timeline = (await client.get("/api/monitoring/activity/users/ann")).json()
        schema = (await client.get("/openapi.json")).json()

    assert set(status) == {
        "looked_at",
        "services",
        "kafka",
        "database",
        "storage",
        "alerts",
        "dead_letters",
        "scaling",
    }
    assert status["kafka"] == {"reachable": None, "note": "not examined yet"}
    (instance,) = status["services"]
    assert (instance["instance_id"], instance["up"], instance["state"]) == ("r1", True, "running")
    assert set(instance["load"]) >= {"cpu_percent", "memory_rss_bytes"}
    assert [a["key"] for a in status["alerts"]] == ["storage.unreachable"]
    assert [a["state"] for a in alerts["history"]] == ["raised"]
    assert [line["level"] for line in logs["lines"]] == ["error"]
    assert (trace["services"], len(trace["lines"])) == (["frontend"], 2)
    assert activity["counts"] == {"uploaded": 1}
    assert [e["kind"] for e in timeline["events"]] == ["uploaded"]
    for path, model in (
        ("/api/monitoring/status", "MonitoringStatus"),
        ("/api/monitoring/alerts", "AlertsView"),
        ("/api/monitoring/logs", "LogLines"),
        ("/api/monitoring/traces/{correlation_id}", "Trace"),
        ("/api/monitoring/activity", "ActivityView"),
        ("/api/monitoring/activity/users/{user_id}", "UserTimeline"),
    ):
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"] == {"$ref": f"#/components/schemas/{model}"}


def test_a_looked_at_status_keeps_each_parts_own_fields_and_feeds_prometheus(tmp_path: Path) -> None:
    settings = DatabaseSettings(url=f"sqlite:///{tmp_path / 'site.sqlite'}")
    engine = make_engine(settings)
    create_schema(engine)
    engine.dispose()
    watcher = DatabaseWatcher(settings)
    try:
        database = watcher.look().view
    finally:
        watcher.close()
    assert isinstance(database, SqliteView)
    storage = StorageWatcher(StorageSettings(endpoint="127.0.0.1:1")).unreachable("refused").view
    monitor = monitor_with_history()
    status = MonitoringStatus(
        looked_at=utc_now(),
        services=[],
        kafka=NotExamined(),
        database=database,
        storage=storage,
        alerts=[],
        dead_letters=[],
    )

    body = status.model_dump(mode="json")

    assert body["database"]["reduced"] is True
    # The page shows a table's bytes only where the backend counts them: SQLite's tables have none.
    assert all(set(table) == {"table", "rows"} for table in body["database"]["tables"])
    assert (body["storage"]["reachable"], body["storage"]["live"]) == (False, False)
    assert body["storage"]["recent_errors"][0]["error"] == "refused"
    monitor.metrics.refresh(status, monitor.registry, monitor.logs, monitor.activity)
    exposition = generate_latest(monitor.metrics.registry).decode()
    assert 'reencode_component_up{component="database"} 1.0' in exposition
    assert 'reencode_component_up{component="storage"} 0.0' in exposition
