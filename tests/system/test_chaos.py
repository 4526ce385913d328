"""The chaos run, short: the same code as `make chaos` (infra/chaos/) with ten worker kills, two
frontend kills and 10 s outages of the broker leading the job partitions, MinIO and PostgreSQL,
under about twenty uploads; then every invariant of the promise must hold.

Its own private stack (three brokers, PostgreSQL, three workers): the faults must not touch the
session's servers other tests use.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from rich.console import Console

from infra.chaos.faults import consumed_in_groups
from infra.chaos.plan import ChaosPlan
from infra.chaos.report import print_report
from infra.chaos.run import run_chaos
from infra.local.stack import REPO_ROOT
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
def test_every_accepted_upload_ends_done_once_through_kills_outages_and_poison() -> None:
    # Under .state, not pytest's temporary folder: another session's pytest may make that 0700
    # (PostgreSQL, running as its own user, could not start again) or delete it while we run.
    (REPO_ROOT / ".state" / "chaos").mkdir(parents=True, exist_ok=True)
    state_dir = Path(tempfile.mkdtemp(prefix="test-", dir=REPO_ROOT / ".state" / "chaos"))
    console = Console(width=120, record=True)
    result = run_chaos(SHORT, state_dir, console, cache_dir=CACHE_DIR)
    print_report(console, result)
    report = f"{console.export_text()}\nlogs and data kept in {state_dir}"
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
    shutil.rmtree(state_dir, ignore_errors=True)
