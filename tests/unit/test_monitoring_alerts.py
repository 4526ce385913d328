"""The alert engine raises a finding once, keeps it while found, and clears it when it goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.monitoring.alerts import AlertEngine, Finding
from shared.events import AlertSeverity, AlertState

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def finding(key: str = "storage.unreachable", message: str = "down", source: str = "storage") -> Finding:
    return Finding(key, source, AlertSeverity.CRITICAL, message)


def test_a_new_finding_raises_one_alert_with_its_time() -> None:
    engine = AlertEngine()
    [raised] = engine.reconcile("storage", [finding()], T0)
    assert raised.state is AlertState.RAISED
    assert raised.raised_at == T0
    assert engine.reconcile("storage", [finding()], T0 + timedelta(seconds=5)) == []
    assert [alert.key for alert in engine.active()] == ["storage.unreachable"]


def test_a_finding_that_goes_away_is_cleared_with_both_times() -> None:
    engine = AlertEngine()
    engine.reconcile("storage", [finding()], T0)
    [cleared] = engine.reconcile("storage", [], T0 + timedelta(seconds=9))
    assert cleared.state is AlertState.CLEARED
    assert (cleared.raised_at, cleared.cleared_at) == (T0, T0 + timedelta(seconds=9))
    assert engine.active() == []
    assert [a.state for a in engine.history()] == [AlertState.CLEARED, AlertState.RAISED]


def test_one_source_never_clears_another_sources_alerts() -> None:
    engine = AlertEngine()
    engine.reconcile("storage", [finding()], T0)
    assert engine.reconcile("database", [], T0) == []
    assert len(engine.active()) == 1


def test_a_failed_look_raises_without_clearing_what_it_could_not_examine() -> None:
    engine = AlertEngine()
    urp = finding("kafka.under_replicated:jobs", "isr short", "kafka")
    engine.reconcile("kafka", [urp], T0)
    down = finding("kafka.unreachable", "no broker", "kafka")
    [raised] = engine.reconcile("kafka", [down], T0, clear_missing=False)
    assert raised.key == "kafka.unreachable"
    assert {a.key for a in engine.active()} == {"kafka.under_replicated:jobs", "kafka.unreachable"}


def test_a_changed_message_updates_the_alert_without_a_new_event() -> None:
    engine = AlertEngine()
    engine.reconcile("kafka", [finding("kafka.group_stuck:g/t", "lag 5", "kafka")], T0)
    assert engine.reconcile("kafka", [finding("kafka.group_stuck:g/t", "lag 9", "kafka")], T0) == []
    assert engine.active()[0].message == "lag 9"


def test_critical_alerts_come_first() -> None:
    engine = AlertEngine()
    warning = Finding("services.down:w1", "services", AlertSeverity.WARNING, "w1 down")
    engine.reconcile("services", [warning, finding("services.none:w", "none", "services")], T0)
    assert [a.severity for a in engine.active()] == [AlertSeverity.CRITICAL, AlertSeverity.WARNING]


def test_other_services_alerts_join_the_view_and_leave_when_cleared() -> None:
    engine = AlertEngine()
    [raised] = AlertEngine().reconcile("metrics", [finding("metrics.error_rate", "5xx", "metrics")], T0)
    engine.observe(raised)
    assert [a.key for a in engine.active()] == ["metrics.error_rate"]
    engine.reconcile("storage", [], T0)  # our own looks never clear another source's alert
    assert len(engine.active()) == 1
    engine.observe(raised.model_copy(update={"state": AlertState.CLEARED, "cleared_at": T0}))
    assert engine.active() == []
