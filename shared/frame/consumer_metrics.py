"""The frame's consumers as Prometheus metrics: which group waits on infrastructure, and how often.

Read at scrape time from the `EventConsumer`s the frame built (an outage is retried until
it ends, partition paused; these figures make that wait visible from outside the process).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from shared.kafka.consumer import EventConsumer


class ConsumerCollector(Collector):
    """`reencode_consumer_waiting_on_infrastructure` and `..._infrastructure_retries_total`,
    one series per group and topic (topics one consumer reads together show its figures)."""

    def __init__(self, consumers: Iterable[tuple[str, str, EventConsumer]]) -> None:
        #: (group, topic, consumer)
        self._consumers = list(consumers)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        labels = ["group", "topic"]
        waiting = GaugeMetricFamily(
            "reencode_consumer_waiting_on_infrastructure",
            "1 while the consumer retries a record because Kafka, the database or storage is away",
            labels=labels,
        )
        retries = CounterMetricFamily(
            "reencode_consumer_infrastructure_retries",
            "Retries of records whose handler failed on an infrastructure error",
            labels=labels,
        )
        for group, topic, consumer in self._consumers:
            waiting.add_metric([group, topic], float(consumer.waiting_on_infrastructure))
            retries.add_metric([group, topic], float(consumer.infrastructure_retries))
        yield waiting
        yield retries
