"""Monitoring in ZooKeeper mode: ZooKeeper's own alerts, the controller's changes, and a KRaft
cluster that has no ZooKeeper at all (nothing ZooKeeper-shaped is asked of it)."""

from __future__ import annotations

from services.monitoring.kafka_cluster import KafkaLook, KafkaStatus, KafkaWatcher, zookeeper_findings
from services.monitoring.lag import LagEvaluator
from shared.events import AlertSeverity
from shared.kafka.zookeeper import BrokerRegistration, ZooKeeperView, parse_mntr
from shared.settings import KafkaSettings

CONNECT = "127.0.0.1:2181"


def healthy(controller: int | None = 0, epoch: int | None = 1) -> ZooKeeperView:
    return ZooKeeperView(
        connect=CONNECT,
        reachable=True,
        ok=True,
        controller_id=controller,
        controller_epoch=epoch,
        registrations=(BrokerRegistration(broker_id=0), BrokerRegistration(broker_id=1)),
    )


def watcher(zookeeper: str = CONNECT) -> KafkaWatcher:
    settings = KafkaSettings(zookeeper_connect=zookeeper)
    return KafkaWatcher(settings, LagEvaluator(60, 3), "monitoring-test")


def test_zookeeper_away_is_a_critical_alert_that_says_what_still_works() -> None:
    [finding] = zookeeper_findings(ZooKeeperView(connect=CONNECT, reachable=False, error="refused"))
    assert finding.key == "zookeeper.unreachable"
    assert finding.severity is AlertSeverity.CRITICAL
    assert "serve the partitions they lead" in finding.message


def test_a_healthy_zookeeper_with_a_controller_raises_nothing() -> None:
    assert zookeeper_findings(healthy()) == []


def test_no_controller_is_critical() -> None:
    keys = [f.key for f in zookeeper_findings(healthy(controller=None))]
    assert keys == ["kafka.no_controller"]


def test_the_controller_change_is_kept_with_its_epoch() -> None:
    watching = watcher()
    first = KafkaLook(KafkaStatus(reachable=True), [])
    watching._with_zookeeper(first, healthy(controller=0, epoch=1))
    moved = watching._with_zookeeper(first, healthy(controller=1, epoch=2)).status
    assert moved.mode == "zookeeper"
    assert moved.controller_epoch == 2
    assert (moved.controller_changes[0].from_id, moved.controller_changes[0].to_id) == (0, 1)
    # ZooKeeper away: the last epoch seen stays, and the alert joins the brokers' findings.
    away = watching._with_zookeeper(first, ZooKeeperView(connect=CONNECT, reachable=False, error="x"))
    assert away.status.controller_epoch == 2
    assert [f.key for f in away.findings] == ["zookeeper.unreachable"]


def test_kraft_mode_has_no_zookeeper_part() -> None:
    watching = watcher(zookeeper="")
    assert watching.mode == "kraft"
    look = watching.unreachable("down")
    assert look.status.mode == "kraft"
    assert look.status.zookeeper is None
    assert watcher().unreachable("down").status.mode == "zookeeper"


def test_mntr_lines_become_figures() -> None:
    text = "zk_version\t3.8.4-abc\nzk_server_state\tstandalone\nzk_znode_count\t29\n"
    assert parse_mntr(text) == {
        "zk_version": "3.8.4-abc",
        "zk_server_state": "standalone",
        "zk_znode_count": "29",
    }
