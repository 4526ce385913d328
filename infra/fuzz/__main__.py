"""`python -m infra.fuzz` (`make fuzz`): many mutated media files through a private stack's API."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.table import Table

from infra.fuzz.run import FuzzReport, FuzzRun
from infra.local.stack import REPO_ROOT, LocalStack, StackConfig
from tests.api_client import sign_up

CACHE_DIR = REPO_ROOT / ".state" / "cache"


def main(
    cases: int = typer.Option(10_000, "--cases", min=1, help="Mutated files to upload."),
    workers: int = typer.Option(1, "--workers", min=1, help="Reencoder worker processes."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same cases; -1 for new ones."),
    wait_s: float = typer.Option(
        300.0, "--wait-s", help="How long accepted jobs may take to end after the last upload."
    ),
) -> None:
    """Upload mutated JPEG, PNG, GIF, WebP and MP4 files; print answers, outcomes, deaths and memory."""
    logging.basicConfig(level=logging.WARNING)
    console = Console()
    state_dir = Path(tempfile.mkdtemp(prefix="fuzz-", dir=REPO_ROOT / ".state"))
    config = StackConfig.on_free_ports(state_dir, CACHE_DIR)
    config.reencoders = workers
    stack = LocalStack(config)
    try:
        console.print(f"starting a private stack in {state_dir} ...")
        stack.start_infrastructure()
        stack.start_services(reencoders=workers)
        with httpx.Client(base_url=config.frontend_url, timeout=60) as http:
            sign_up(http)
            console.print(f"uploading {cases} cases ...")
            report = FuzzRun(http, stack).run(cases, wait_s, None if seed < 0 else seed)
    finally:
        stack.stop()
    print_report(console, report)
    if report.promise_held:
        shutil.rmtree(state_dir, ignore_errors=True)
    else:
        console.print(f"logs kept in {state_dir / 'logs'}")
        raise typer.Exit(1)


def print_report(console: Console, report: FuzzReport) -> None:
    table = Table(title=f"{report.cases} cases in {report.seconds:.0f} s")
    table.add_column("figure")
    table.add_column("value", justify="right")
    answers = ", ".join(f"{code}: {n}" for code, n in sorted(report.answers.items()))
    table.add_row("answers", answers)
    table.add_row("jobs done / failed", f"{report.outcomes['done']} / {report.outcomes['failed']}")
    table.add_row("5xx or refusals without a reason", str(len(report.bad_answers)))
    table.add_row("jobs stuck", str(len(report.stuck)))
    table.add_row("encoding children killed", str(report.worker_deaths))
    table.add_row("service processes dead", ", ".join(report.dead_services) or "none")
    table.add_row("peak worker memory (RSS)", f"{report.peak_worker_rss_bytes / 2**20:.0f} MiB")
    console.print(table)
    for reason, n in report.failure_reasons.most_common(8):
        console.print(f"  failed {n:>5} x {reason}")
    for line in (report.bad_answers + report.stuck)[:20]:
        console.print(f"[red]{line}[/red]")
    console.print("promise held" if report.promise_held else "[red]promise broken[/red]")


if __name__ == "__main__":
    typer.run(main)
