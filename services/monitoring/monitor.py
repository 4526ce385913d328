"""The monitor's loop: look at every part of the system, turn findings into alerts, keep the view.

Each look runs the Kafka, database and storage watchers side by side, each bounded by a timeout.
A watcher that hangs (a server that accepts connections and never answers) is not started again
while its previous look still runs, and counts as unreachable meanwhile: the loop itself never
waits longer than the timeout and never dies of what it watches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from services.monitoring.activity_feed import ActivityFeed
from services.monitoring.alerts import AlertEngine
from services.monitoring.database_stats import DatabaseView, DatabaseWatcher
from services.monitoring.kafka_cluster import KafkaStatus, KafkaWatcher
from services.monitoring.lag import LagEvaluator
from services.monitoring.log_feed import LogFeed
from services.monitoring.prometheus import MonitoringMetrics
from services.monitoring.scaling_advisor import ScalingAdvice, ScalingAdvisor
from services.monitoring.service_registry import SOURCE as SERVICES
from services.monitoring.service_registry import ServiceRegistry
from services.monitoring.settings import MonitoringSettings
from services.monitoring.storage_stats import StorageView, StorageWatcher
from services.monitoring.views import MonitoringStatus, NotExamined
from shared.events import ALERTS, VIDEO_TASKS, Alert, AlertState, VideoTaskProgress, utc_now
from shared.kafka import EventProducer
from shared.settings import DatabaseSettings, KafkaSettings, StorageSettings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What this service's own looks judge; alerts of other sources on the topic come from elsewhere.
OWN_SOURCES = frozenset({SERVICES, "kafka", "database", "storage"})


class Monitor:
    def __init__(
        self,
        settings: MonitoringSettings,
        kafka: KafkaSettings,
        database: DatabaseSettings,
        storage: StorageSettings,
        client_id: str,
    ) -> None:
        self.settings = settings
        self.registry = ServiceRegistry(
            down_after=timedelta(seconds=settings.down_after_s),
            forget_after=timedelta(seconds=settings.forget_after_s),
        )
        self.alerts = AlertEngine(settings.alert_history)
        self.logs = LogFeed(settings.log_history)
        self.activity = ActivityFeed(settings.activity_history)
        self.metrics = MonitoringMetrics()
        self.lag = LagEvaluator(settings.lag_window_s, settings.lag_min_samples)
        self.advisor = ScalingAdvisor(settings.scale_target_s, settings.scale_window_s)
        self._scaling: list[ScalingAdvice] = []
        self._kafka = KafkaWatcher(kafka, self.lag, client_id)
        self._database = DatabaseWatcher(database, settings.slow_queries)
        self._storage = StorageWatcher(storage, settings.max_objects_per_bucket, settings.bucket_refresh_s)
        self._kafka_status: KafkaStatus | NotExamined = NotExamined()
        self._database_view: DatabaseView | NotExamined = NotExamined()
        self._storage_view: StorageView | NotExamined = NotExamined()
        self.looked_at: datetime | None = None
        # Each watcher's look in flight (their results differ in type).
        self._running: dict[str, asyncio.Future[Any]] = {}
        self._looked = asyncio.Event()
        self._outbox: asyncio.Queue[Alert] = asyncio.Queue(maxsize=1000)

    # --- the loop -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Look every `poll_interval_s` until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                await self.look_once()
            except Exception:
                log.exception("a look at the system failed; trying again at the next interval")
            await asyncio.sleep(max(0.1, self.settings.poll_interval_s - (loop.time() - started)))

    async def look_once(self) -> list[Alert]:
        kafka, database, storage = await asyncio.gather(
            self._probe("kafka", self._kafka.look, self._kafka.unreachable),
            self._probe(
                "database", lambda: asyncio.to_thread(self._database.look), self._database.unreachable
            ),
            self._probe("storage", lambda: asyncio.to_thread(self._storage.look), self._storage.unreachable),
        )
        now = utc_now()
        changes = self.alerts.reconcile(SERVICES, self.registry.findings(now), now)
        changes += self.alerts.reconcile("kafka", kafka.findings, now, clear_missing=kafka.complete)
        changes += self.alerts.reconcile("database", database.findings, now)
        changes += self.alerts.reconcile("storage", storage.findings, now)
        self._kafka_status, self._database_view, self._storage_view = (
            kafka.status,
            database.view,
            storage.view,
        )
        if isinstance(kafka.status, KafkaStatus) and kafka.status.reachable:
            self._scaling = self.advisor.look(kafka.status, time.monotonic())
        self.looked_at = now
        for alert in changes:
            self._announce(alert)
        self.metrics.refresh(self.status(), self.registry, self.logs, self.activity)
        self._looked.set()
        self._looked = asyncio.Event()
        return changes

    async def _probe(
        self,
        name: str,
        start: Callable[[], Awaitable[T]],
        unreachable: Callable[[str], T],
    ) -> T:
        running = self._running.get(name)
        if running is None or running.done():
            running = self._running[name] = asyncio.ensure_future(start())
        try:
            result: T = await asyncio.wait_for(asyncio.shield(running), self.settings.probe_timeout_s)
            return result
        except TimeoutError:
            return unreachable(f"no answer within {self.settings.probe_timeout_s:.0f}s")
        except Exception as error:  # a watcher bug must not stop the loop
            log.exception("%s watcher failed", name)
            return unreachable(f"{type(error).__name__}: {error}")

    def _announce(self, alert: Alert) -> None:
        if alert.state is AlertState.RAISED:
            log.warning("alert raised: %s: %s", alert.key, alert.message)
        else:
            log.info("alert cleared: %s", alert.key)
        try:
            self._outbox.put_nowait(alert)
        except asyncio.QueueFull:
            log.warning("alert %s not published: the outbox is full (Kafka down?)", alert.key)

    async def publish_alerts(self, producer: EventProducer) -> None:
        """Send raised and cleared alerts to the alerts topic, in order, until cancelled."""
        while True:
            alert = await self._outbox.get()
            try:
                await producer.publish(ALERTS, alert)
            except Exception as error:
                log.warning("alert %s not published: %s", alert.key, error)

    async def close(self) -> None:
        for running in self._running.values():
            running.cancel()
        await self._kafka.close()
        await asyncio.to_thread(self._database.close)

    def on_progress(self, progress: VideoTaskProgress) -> None:
        """A worker's progress on a video task: its `video.tasks` partitions are busy, not stuck."""
        # On the looks' monotonic clock, aged by the event's own age (a replayed event is old).
        age_s = max(0.0, (utc_now() - progress.occurred_at).total_seconds())
        self.lag.note_progress(VIDEO_TASKS.name, progress.worker_id, time.monotonic() - age_s)

    def on_alert(self, alert: Alert) -> None:
        """An alert from the alerts topic: other services' are kept, our own echoes ignored."""
        if alert.source not in OWN_SOURCES:
            self.alerts.observe(alert)

    # --- the view -----------------------------------------------------------------------------------

    def status(self) -> MonitoringStatus:
        return MonitoringStatus(
            looked_at=self.looked_at,
            services=self.registry.services(),
            kafka=self._kafka_status,
            database=self._database_view,
            storage=self._storage_view,
            alerts=self.alerts.active(),
            dead_letters=self.registry.dead_letters()[:20],
            scaling=self._scaling,
        )

    async def updates(self) -> AsyncIterator[MonitoringStatus]:
        """The status now, then after every look (for the page's live stream)."""
        yield self.status()
        while True:
            await self._looked.wait()
            yield self.status()
