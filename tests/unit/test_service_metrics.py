"""What workers expose on /metrics: the reencoder's work, dblogs' lines, the frame's consumers."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any, cast

from prometheus_client import CollectorRegistry

from services.dblogs.main import ShipperMetrics
from services.dblogs.postgres_log import to_log_record
from services.reencoder.metrics import IMAGE_RUNG, ReencoderMetrics
from services.reencoder.timing import PhaseTimer, TimingReporter
from shared.events import WorkKind, WorkOutcome
from shared.frame.consumer_metrics import ConsumerCollector
from shared.kafka.consumer import EventConsumer


def _timer(
    encode_s: float, download_s: float = 0.5, bytes_in: int = 1000, bytes_out: int = 300
) -> PhaseTimer:
    timer = PhaseTimer()
    timer.seconds.update({"download": download_s, "encode": encode_s, "upload": 0.25})
    timer.bytes_in, timer.bytes_out = bytes_in, bytes_out
    return timer


def test_every_kind_and_outcome_is_exposed_at_zero_before_any_work() -> None:
    metrics = ReencoderMetrics()
    for kind in WorkKind:
        for outcome in WorkOutcome:
            value = metrics.registry.get_sample_value(
                "reencode_work_finished_total", {"kind": kind.value, "outcome": outcome.value}
            )
            assert value == 0.0


def test_finished_work_is_counted_with_its_phases_bytes_and_queue_wait() -> None:
    metrics = ReencoderMetrics()
    sample = metrics.registry.get_sample_value
    metrics.record(WorkKind.IMAGE, WorkOutcome.DONE, _timer(2.0), rung=IMAGE_RUNG, queue_wait_s=3.0)
    metrics.record(WorkKind.IMAGE, WorkOutcome.FAILED, _timer(9.0), rung=IMAGE_RUNG, queue_wait_s=0.0)

    assert sample("reencode_work_finished_total", {"kind": "image", "outcome": "done"}) == 1
    assert sample("reencode_work_finished_total", {"kind": "image", "outcome": "failed"}) == 1
    assert sample("reencode_work_bytes_in_total", {"kind": "image"}) == 2000
    assert sample("reencode_work_bytes_out_total", {"kind": "image"}) == 600
    assert sample("reencode_queue_wait_seconds_count", {"kind": "image"}) == 2
    assert sample("reencode_queue_wait_seconds_sum", {"kind": "image"}) == 3.0
    assert sample("reencode_phase_seconds_count", {"kind": "image", "phase": "download"}) == 2
    # Only a finished encode's time is an encoding time.
    encode = {"kind": "image", "rung": IMAGE_RUNG}
    assert sample("reencode_encode_seconds_count", encode) == 1
    assert sample("reencode_encode_seconds_sum", encode) == 2.0
    assert sample("reencode_encode_seconds_bucket", {**encode, "le": "2.5"}) == 1
    assert sample("reencode_encode_seconds_bucket", {**encode, "le": "1.0"}) == 0


def test_a_video_rendition_reports_its_speed_against_real_time() -> None:
    metrics = ReencoderMetrics()
    metrics.record(
        WorkKind.VIDEO_RENDITION, WorkOutcome.DONE, _timer(5.0), rung="720p", queue_wait_s=0, media_s=20.0
    )
    sample = metrics.registry.get_sample_value
    assert sample("reencode_ffmpeg_speed_sum", {"rung": "720p"}) == 4.0
    assert sample("reencode_encode_seconds_count", {"kind": "video_rendition", "rung": "720p"}) == 1


def test_work_in_progress_counts_up_and_down_even_when_the_work_raises() -> None:
    metrics = ReencoderMetrics()

    def in_progress() -> float | None:
        return metrics.registry.get_sample_value("reencode_work_in_progress", {"kind": "video_preview"})

    try:
        with metrics.busy(WorkKind.VIDEO_PREVIEW):
            assert in_progress() == 1
            raise RuntimeError("ffmpeg died")
    except RuntimeError:
        pass
    assert in_progress() == 0


def test_lost_reports_are_on_the_same_registry() -> None:
    reporter = TimingReporter(cast(Any, object()), "w")
    names = {metric.name for metric in reporter.metrics.registry.collect()}
    assert {"reencode_reports_lost", "reencode_work_finished", "reencode_encode_seconds"} <= names


class _Consumer:
    """What the collector reads of an EventConsumer (its two public state attributes)."""

    def __init__(self, waiting: bool, retries: int) -> None:
        self.waiting_on_infrastructure = waiting
        self.infrastructure_retries = retries


def test_consumers_are_exposed_per_group_and_topic() -> None:
    registry = CollectorRegistry()
    consumers = [
        ("reencoder", "jobs.requested", _Consumer(True, 7)),
        ("reencoder.video-tasks", "video.tasks", _Consumer(False, 0)),
    ]
    registry.register(ConsumerCollector((g, t, cast(EventConsumer, c)) for g, t, c in consumers))
    sample = registry.get_sample_value
    jobs = {"group": "reencoder", "topic": "jobs.requested"}
    tasks = {"group": "reencoder.video-tasks", "topic": "video.tasks"}
    assert sample("reencode_consumer_waiting_on_infrastructure", jobs) == 1
    assert sample("reencode_consumer_infrastructure_retries_total", jobs) == 7
    assert sample("reencode_consumer_waiting_on_infrastructure", tasks) == 0
    # Read at scrape time: the consumer's state now, not at registration.
    consumers[0][2].waiting_on_infrastructure = False
    assert sample("reencode_consumer_waiting_on_infrastructure", jobs) == 0


def _line(**fields: object) -> str:
    return json.dumps({"timestamp": "2026-11-25 11:50:01.123 UTC", "error_severity": "LOG", **fields})


def test_dblogs_counts_lines_by_level_slow_statements_and_unreadable_lines() -> None:
    lines = [
        _line(message="duration: 1500.0 ms  statement: SELECT pg_sleep(1.5)", user="app", dbname="site"),
        _line(message="duration: 120.0 ms  statement: SELECT 1"),
        _line(error_severity="ERROR", message='relation "nope" does not exist'),
        _line(message="checkpoint complete"),
        '{"torn": ',
    ]
    records = [r for line in lines if (r := to_log_record(line, "db-1"))]
    metrics = ShipperMetrics()
    metrics.count(len(lines), records)
    sample = metrics.registry.get_sample_value
    assert sample("reencode_dblogs_lines_shipped_total", {"level": "warning"}) == 2
    assert sample("reencode_dblogs_lines_shipped_total", {"level": "error"}) == 1
    assert sample("reencode_dblogs_lines_shipped_total", {"level": "info"}) == 1
    assert sample("reencode_dblogs_lines_shipped_total", {"level": "critical"}) == 0
    assert sample("reencode_dblogs_lines_unreadable_total") == 1
    assert sample("reencode_dblogs_slow_statement_seconds_count") == 2
    assert sample("reencode_dblogs_slow_statement_seconds_sum") == 1.62


def test_queue_wait_never_goes_negative_between_clocks() -> None:
    timer = PhaseTimer()
    assert timer.queue_wait_s(timer.started_at + timedelta(seconds=5)) == 0.0


def test_the_workers_dashboard_charts_only_metrics_the_processes_expose() -> None:
    from infra.local.stack import REPO_ROOT

    suffixes = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",), "gauge": ("",)}
    registries = [TimingReporter(cast(Any, object()), "w").metrics.registry, ShipperMetrics().registry]
    consumers = CollectorRegistry()
    consumers.register(ConsumerCollector([("g", "t", cast(EventConsumer, _Consumer(False, 0)))]))
    exposed = {
        family.name + suffix
        for registry in [*registries, consumers]
        for family in registry.collect()
        for suffix in suffixes[family.type]
    }
    dashboard = (REPO_ROOT / "infra" / "grafana" / "dashboards" / "workers.json").read_text()
    charted = set(re.findall(r"\breencode_[a-z_]+", dashboard)) - {"reencode_workers"}
    assert charted, "the dashboard charts the workers"
    assert charted <= exposed, f"charted but exposed by no process: {charted - exposed}"
