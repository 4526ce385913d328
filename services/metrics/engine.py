"""The metrics service's running parts: the batch reader, the peers' snapshots and the judging tick.

Every `tick_s` the engine takes its own snapshot, merges it with the live peers' (the site-wide
view), runs the alert rules on that view and wakes the live streams. Every `publish_every` ticks it
publishes its snapshot for the peers and for any other reader of `metrics.snapshots`.

Alerts: every instance judges the same merged view, so every dashboard shows the same alerts; only
the instance with the smallest id among the live ones publishes them to `alerts`, so each change is
published once. If that instance dies, the next one takes over within `STALE_AFTER_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any

from services.metrics.aggregator import Aggregator
from services.metrics.rules import RuleBook
from services.metrics.stream import MetricStreamReader, SnapshotReader, raised_alerts
from services.metrics.summary import MetricsSummary
from services.metrics.view import PeerSnapshots, summarise
from services.metrics.windows import WINDOWS
from shared.events import ALERTS, METRICS_SNAPSHOTS
from shared.frame import Stoppable
from shared.kafka import EventProducer
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

Tick = Callable[[], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class EngineSettings:
    tick_s: float = 1.0
    publish_every: int = 2


class MetricsEngine:
    def __init__(
        self, instance_id: str, kafka: KafkaSettings, group_id: str, settings: EngineSettings | None = None
    ) -> None:
        self.instance_id = instance_id
        self.kafka = kafka
        #: The consumer group its stream reader joins (the service's declaration names it).
        self.group_id = group_id
        self.settings = settings or EngineSettings()
        self.aggregator = Aggregator()
        self.peers = PeerSnapshots(instance_id)
        self.rules = RuleBook()
        self.summary: MetricsSummary = summarise([])
        self.consumed = 0
        self.alerts_published = 0
        self.reader: MetricStreamReader | None = None
        self._updated = asyncio.Condition()

    def parts(self, producer: EventProducer) -> tuple[list[Stoppable], dict[str, Tick]]:
        """What the service frame runs and supervises: the two readers (they stop when asked, leaving
        their group) and the judging tick (cancelled at stop)."""
        self.reader = MetricStreamReader(
            self.kafka,
            group_id=self.group_id,
            client_id=self.instance_id,
            aggregator=self.aggregator,
            producer=producer,
            rewind_s=max(span for span, _ in WINDOWS),
            on_batch=self._count,
        )
        snapshots = SnapshotReader(self.kafka, self.instance_id, self.peers.add)
        return [self.reader, snapshots], {"metrics-tick": partial(self._tick_forever, producer)}

    async def wait_for_update(self, timeout_s: float) -> None:
        """Returns after the next tick (or `timeout_s`), for live streams."""
        async with self._updated:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._updated.wait(), timeout_s)

    async def tick(self, producer: EventProducer | None, publish_snapshot: bool) -> None:
        """One round: snapshot, merge, judge, publish."""
        partitions = self.reader.assigned if self.reader else ()
        figures = self.aggregator.figures()
        # The claim on partitions without the windows: those are merged as tallies (`local`).
        header = self.aggregator.snapshot(self.instance_id, partitions, with_windows=False)
        live = self.peers.live(header)
        summary = summarise(live, local=figures if any(s is header for s in live) else None)
        changes = self.rules.tick(summary)
        self.summary = summary.model_copy(update={"alerts": self.rules.active()})
        async with self._updated:
            self._updated.notify_all()
        if producer is None:
            return
        if publish_snapshot:
            own = self.aggregator.snapshot(self.instance_id, partitions, figures=figures)
            await _publish_quietly(producer.publish(METRICS_SNAPSHOTS, own), "snapshot")
        if changes and self._is_judge(summary):
            for alert in changes:
                log.warning("alert %s %s: %s", alert.key, alert.state.value, alert.message)
                await _publish_quietly(producer.publish(ALERTS, alert), "alert")
                self.alerts_published += 1

    def _is_judge(self, summary: MetricsSummary) -> bool:
        return not summary.instances or min(summary.instances) == self.instance_id

    def _count(self, records: int) -> None:
        self.consumed += records

    async def _tick_forever(self, producer: EventProducer) -> None:
        try:
            self.rules.restore(await raised_alerts(self.kafka, source="metrics"))
        except Exception as error:
            log.warning("could not read earlier alerts (they clear when raised again): %s", error)
        round_ = 0
        while True:
            await asyncio.sleep(self.settings.tick_s)
            round_ += 1
            try:
                await self.tick(producer, publish_snapshot=round_ % self.settings.publish_every == 0)
            except Exception:
                log.exception("metrics tick failed")


async def _publish_quietly(publishing: Awaitable[object], what: str) -> None:
    try:
        await asyncio.wait_for(publishing, timeout=10)
    except Exception as error:
        log.warning("%s not published: %s", what, error)
