"""Alert rules: raise when a figure leaves its baseline, clear by themselves when it is back."""

from __future__ import annotations

from services.metrics.rules import RuleBook
from services.metrics.summary import JobBacklog, MetricsSummary, Quantiles, WindowSummary
from shared.events import AlertState


def summary(p95_ms: float, requests: int = 100, error_ratio: float = 0.0, queued: int = 0) -> MetricsSummary:
    window = WindowSummary(
        span_s=10, requests=requests, error_ratio=error_ratio, latency_ms=Quantiles(p95=p95_ms)
    )
    return MetricsSummary(jobs=JobBacklog(queued=queued), windows={"10s": window})


def keys_and_states(book: RuleBook, figures: MetricsSummary) -> list[tuple[str, AlertState]]:
    return [(alert.key, alert.state) for alert in book.tick(figures)]


def test_latency_spike_raises_then_clears_when_it_ends() -> None:
    book = RuleBook()
    for _ in range(10):
        assert keys_and_states(book, summary(20.0)) == []
    assert keys_and_states(book, summary(800.0)) == [("metrics.latency_p95", AlertState.RAISED)]
    assert [a.key for a in book.active()] == ["metrics.latency_p95"]
    for _ in range(5):  # the baseline is frozen while raised: a long spike stays an alert
        assert keys_and_states(book, summary(800.0)) == []
    changes = [keys_and_states(book, summary(20.0)) for _ in range(3)]
    assert changes[-1] == [("metrics.latency_p95", AlertState.CLEARED)]
    assert book.active() == []


def test_small_absolute_changes_on_a_quiet_site_are_not_alerts() -> None:
    book = RuleBook()
    for _ in range(10):
        book.tick(summary(2.0))
    assert keys_and_states(book, summary(30.0)) == []


def test_error_ratio_alert_clears_when_traffic_stops() -> None:
    book = RuleBook()
    for _ in range(10):
        book.tick(summary(20.0, error_ratio=0.0))
    assert ("metrics.error_ratio", AlertState.RAISED) in keys_and_states(book, summary(20.0, error_ratio=0.5))
    assert ("metrics.error_ratio", AlertState.CLEARED) in keys_and_states(book, summary(20.0, requests=0))


def test_too_few_samples_never_raise() -> None:
    book = RuleBook()
    for _ in range(10):
        book.tick(summary(20.0))
    assert keys_and_states(book, summary(5000.0, requests=3)) == []


def test_a_backlog_growing_faster_than_workers_drain_it_raises() -> None:
    book = RuleBook()
    for _ in range(10):
        book.tick(summary(20.0, queued=0))
    raised = []
    for queued in range(0, 60, 4):
        raised += keys_and_states(book, summary(20.0, queued=queued))
    assert ("metrics.job_backlog_growth", AlertState.RAISED) in raised


def test_an_alert_an_earlier_instance_raised_is_cleared_once_calm() -> None:
    first = RuleBook()
    for _ in range(10):
        first.tick(summary(20.0))
    raised = first.tick(summary(800.0))
    restarted = RuleBook()
    restarted.restore(raised)
    assert [a.key for a in restarted.active()] == ["metrics.latency_p95"]
    changes = [keys_and_states(restarted, summary(20.0)) for _ in range(3)]
    assert changes[-1] == [("metrics.latency_p95", AlertState.CLEARED)]
