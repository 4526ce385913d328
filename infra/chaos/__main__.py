"""`python -m infra.chaos` (`make chaos`): the full chaos run; options shorten it."""

from __future__ import annotations

import logging
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import typer
from rich.console import Console

from infra.chaos.plan import ChaosPlan
from infra.chaos.report import print_report
from infra.chaos.run import run_chaos
from infra.local.stack import REPO_ROOT

DEFAULTS = ChaosPlan()


def main(
    kills: int = typer.Option(DEFAULTS.kills, "--kills", min=0, help="Workers SIGKILLed mid-job."),
    frontend_kills: int = typer.Option(
        DEFAULTS.frontend_kills, "--frontend-kills", min=0, help="Frontend SIGKILLs mid-upload."
    ),
    outage_s: float = typer.Option(
        DEFAULTS.outage_s,
        "--outage-s",
        min=0,
        help="Seconds the broker, MinIO and PostgreSQL each stay down.",
    ),
    workers: int = typer.Option(DEFAULTS.workers, "--workers", min=1, help="Reencoder worker processes."),
    users: int = typer.Option(DEFAULTS.users, "--users", min=1, help="Users uploading in the background."),
    load_pause_s: float = typer.Option(
        DEFAULTS.load_pause_s, "--load-pause-s", min=0, help="Pause between background uploads."
    ),
    recovery_s: float = typer.Option(
        DEFAULTS.recovery_s, "--recovery-s", min=1, help="Deadline for each recovery and for the invariants."
    ),
    seed: int = typer.Option(DEFAULTS.seed, "--seed", help="Same seed, same choices of victims and media."),
    state_dir: Path | None = typer.Option(
        None, "--state-dir", help="Where the run's stack lives (default: a new folder under .state/chaos)."
    ),
    keep: bool = typer.Option(
        False, "--keep", help="Keep the state folder (logs, data) even when the promise held."
    ),
) -> None:
    """Kill workers, the frontend and a broker, stop MinIO and PostgreSQL, poison every topic under
    upload load; then check that every 202 ended done, once, and that nothing is stuck."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    # SIGTERM (a timeout, CI cancelling) unwinds like Ctrl-C, so every server started is stopped.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    plan = ChaosPlan(
        kills=kills,
        frontend_kills=frontend_kills,
        outage_s=outage_s,
        workers=workers,
        users=users,
        load_pause_s=load_pause_s,
        recovery_s=recovery_s,
        seed=seed,
    )
    console = Console()
    if state_dir is None:
        (REPO_ROOT / ".state" / "chaos").mkdir(parents=True, exist_ok=True)
        state_dir = Path(tempfile.mkdtemp(prefix="run-", dir=REPO_ROOT / ".state" / "chaos"))
    result = run_chaos(plan, state_dir, console)
    print_report(console, result)
    if result.holds and not keep:
        shutil.rmtree(state_dir, ignore_errors=True)
    else:
        console.print(f"Logs and data kept in {state_dir}")
    raise typer.Exit(0 if result.holds else 1)


if __name__ == "__main__":
    typer.run(main)
