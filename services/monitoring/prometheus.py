"""The monitoring view as Prometheus metrics, refreshed after every look."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

from services.monitoring.activity_feed import ActivityFeed
from services.monitoring.database_stats import PostgresView
from services.monitoring.kafka_cluster import KafkaStatus
from services.monitoring.lag import LagStatus
from services.monitoring.log_feed import LogFeed
from services.monitoring.service_registry import ServiceRegistry
from services.monitoring.storage_stats import StorageView
from services.monitoring.views import MonitoringStatus


class MonitoringMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(f"reencode_{name}", doc, list(labels), registry=r)

        self.instances_up = gauge("service_instances_up", "Instances with a recent heartbeat", ("service",))
        self.restarts = gauge(
            "service_instance_restarts",
            "Times an instance came back with a new process",
            ("service", "instance"),
        )
        self.dead_letters = gauge("dead_letters", "Messages consumers gave up on", ("source_topic",))
        self.alerts = gauge("alerts_active", "Alerts raised and not cleared", ("source", "severity"))
        self.up = gauge("component_up", "1 when monitoring can examine the component", ("component",))
        self.brokers = gauge("kafka_brokers", "Brokers in the cluster metadata")
        self.under_replicated = gauge(
            "kafka_under_replicated_partitions", "Partitions missing an in-sync replica"
        )
        self.offline = gauge("kafka_offline_partitions", "Partitions without a leader")
        self.lag = gauge("kafka_consumer_lag", "Records not yet committed", ("group", "topic", "partition"))
        self.group_stuck = gauge("kafka_consumer_group_stuck", "1 when a group is judged stuck", ("group",))
        self.db_connections = gauge("database_connections", "Client connections to the database")
        self.db_tps = gauge("database_transactions_per_second", "Commits and rollbacks per second")
        self.bucket_objects = gauge("storage_bucket_objects", "Objects in a bucket", ("bucket",))
        self.bucket_bytes = gauge("storage_bucket_bytes", "Bytes in a bucket", ("bucket",))
        self.log_lines = gauge("log_lines", "Log lines received", ("service", "level"))
        self.activity = gauge("user_activity_events", "User activity events received", ("kind",))
        self.scaling_backlog = gauge(
            "scaling_backlog", "Records of a work queue not yet committed", ("group", "topic")
        )
        self.scaling_recommended = gauge(
            "scaling_recommended_workers",
            "Workers that would clear the queue within the advisor's target (capped by partitions)",
            ("group", "topic"),
        )
        self.scaling_workers = gauge("scaling_workers", "Workers of the group now", ("group", "topic"))

    def refresh(
        self, status: MonitoringStatus, registry: ServiceRegistry, logs: LogFeed, activity: ActivityFeed
    ) -> None:
        for service, up in registry.up_counts().items():
            self.instances_up.labels(service).set(up)
        self.restarts.clear()
        for instance in status.services:
            self.restarts.labels(instance.service, instance.instance_id).set(instance.restarts)
        for topic, count in registry.dead_letter_counts.items():
            self.dead_letters.labels(topic).set(count)
        self.alerts.clear()
        for alert in status.alerts:
            self.alerts.labels(alert.source, alert.severity.value).inc()
        for component, view in (
            ("kafka", status.kafka),
            ("database", status.database),
            ("storage", status.storage),
        ):
            self.up.labels(component).set(int(bool(view.reachable)))
        if isinstance(status.kafka, KafkaStatus):
            self._kafka(status.kafka)
        database = status.database
        connections = database.connections.total if isinstance(database, PostgresView) else 0
        self.db_connections.set(connections)
        self.db_tps.set(
            (database.transactions_per_second if isinstance(database, PostgresView) else None) or 0
        )
        self.bucket_objects.clear()
        self.bucket_bytes.clear()
        for bucket in status.storage.buckets if isinstance(status.storage, StorageView) else []:
            self.bucket_objects.labels(bucket.name).set(bucket.objects)
            self.bucket_bytes.labels(bucket.name).set(bucket.bytes)
        for (service, level), count in logs.counts.items():
            self.log_lines.labels(service, level.value).set(count)
        for kind, count in activity.counts.items():
            self.activity.labels(kind.value).set(count)
        for advice in status.scaling:
            labels = (advice.group, advice.topic)
            self.scaling_backlog.labels(*labels).set(advice.backlog)
            self.scaling_workers.labels(*labels).set(advice.workers)
            if advice.recommended is not None:
                self.scaling_recommended.labels(*labels).set(advice.recommended)

    def _kafka(self, kafka: KafkaStatus) -> None:
        if not kafka.reachable:
            return  # keep the last figures rather than report an empty cluster
        self.brokers.set(sum(1 for broker in kafka.brokers if broker.up))
        self.under_replicated.set(kafka.under_replicated_partitions)
        self.offline.set(kafka.offline_partitions)
        self.lag.clear()
        self.group_stuck.clear()
        for group in kafka.groups:
            self.group_stuck.labels(group.group).set(int(group.status is LagStatus.STUCK))
            for row in group.partitions:
                self.lag.labels(group.group, row.topic, str(row.partition)).set(row.lag)
