"""The alert rules Prometheus loads (infra/prometheus/rules.yml), checked and unit-tested with
Debian's promtool (installed with apt when missing, like the Prometheus server of the system tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from infra.local.prometheus import RULES, local_config, promtool_path

PROMETHEUS_DIR = RULES.parent
RULE_TESTS = PROMETHEUS_DIR / "rules_test.yml"


def _promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool_path(), *arguments], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_rules_are_valid() -> None:
    checked = _promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_rule_behaves_as_its_unit_test_series_say() -> None:
    tested = _promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test.get("alert_rule_test", [])}
    assert alerts - tested == set(), "alerts without a unit test"
    assert tested - alerts == set(), "unit tests of alerts that do not exist"


def test_compose_and_the_local_server_load_the_rules(tmp_path: Path) -> None:
    compose = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert compose["rule_files"] == [RULES.name]
    checked = _promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(local_config({"reencoder": ["127.0.0.1:9100"]}, rule_files=[RULES])))
    checked = _promtool("check", "config", str(local))
    assert checked.returncode == 0, checked.stdout + checked.stderr
