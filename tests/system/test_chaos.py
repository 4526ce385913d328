"""The chaos run, short: the same code as `make chaos` (infra/chaos/) with ten worker kills, two
frontend kills and 10 s outages of the broker leading the job partitions, MinIO and PostgreSQL,
under about twenty uploads; then every invariant of the promise must hold.

Its own private stack (three brokers, PostgreSQL, three workers): the faults must not touch the
session's servers other tests use.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from infra.chaos.faults import consumed_in_groups
from infra.chaos.plan import ChaosPlan
from infra.chaos.report import print_report
from infra.chaos.run import run_chaos
from tests.conftest import CACHE_DIR

SHORT = ChaosPlan(
    kills=10,
    frontend_kills=2,
    outage_s=10,
    workers=3,
    users=2,
    load_pause_s=8,
    video_every=6,
    video_victim_every=5,
    recovery_s=240,
)


@pytest.mark.timeout(1200)
def test_every_accepted_upload_ends_done_once_through_kills_outages_and_poison(tmp_path: Path) -> None:
    console = Console(width=120, record=True)
    result = run_chaos(SHORT, tmp_path / "chaos", console, cache_dir=CACHE_DIR)
    print_report(console, result)
    report = console.export_text()
    findings = result.findings

    assert findings.holds, "\n".join([*findings.violations(), report])
    assert all(fault.recovered_s is not None for fault in result.faults), report
    kinds = [fault.kind for fault in result.faults]
    assert kinds.count("worker SIGKILL mid-job") == SHORT.kills
    assert kinds.count("frontend SIGKILL mid-upload") == SHORT.frontend_kills
    assert {"broker SIGKILL", "MinIO stopped", "PostgreSQL stopped", "poison records"} <= set(kinds)
    # Enough happened for the run to mean something: uploads accepted, and every victim was one.
    assert findings.accepted >= SHORT.kills + 5, report
    assert findings.done == findings.accepted
    # Two poison records on each topic the frontend and the workers consume.
    assert findings.poison == 2 * len(consumed_in_groups())
