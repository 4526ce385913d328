"""The run's tables: what was injected and how fast the site recovered, then what became of the uploads."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from infra.chaos.faults import FaultRecord
from infra.chaos.invariants import Findings
from infra.chaos.load import Tally
from infra.chaos.plan import ChaosPlan


@dataclass
class ChaosResult:
    plan: ChaosPlan
    faults: list[FaultRecord]
    tally: Tally
    findings: Findings
    #: Seconds after the last fault until the invariants held (or the deadline passed).
    settled_s: float
    #: What the checks found broken before they held (what the site was still repairing).
    waited_for: list[str]
    #: Seconds the whole run took, start-up included.
    total_s: float
    restarts: dict[str, int]
    idle_kills: int

    @property
    def holds(self) -> bool:
        return self.findings.holds and all(f.recovered_s is not None for f in self.faults)


def fault_table(faults: list[FaultRecord]) -> Table:
    table = Table(title="Faults injected: time to recover (s)")
    for column in ("fault", "count", "median", "max", "not recovered"):
        table.add_column(column, justify="left" if column == "fault" else "right")
    by_kind: dict[str, list[FaultRecord]] = defaultdict(list)
    for fault in faults:
        by_kind[fault.kind].append(fault)
    for kind, records in by_kind.items():
        times = [r.recovered_s for r in records if r.recovered_s is not None]
        table.add_row(
            kind,
            str(len(records)),
            f"{statistics.median(times):.1f}" if times else "-",
            f"{max(times):.1f}" if times else "-",
            str(len(records) - len(times)),
        )
    return table


def outcome_table(result: ChaosResult) -> Table:
    findings, tally = result.findings, result.tally
    table = Table(title="Uploads and invariants")
    table.add_column("measure")
    table.add_column("value", justify="right")
    refused = ", ".join(f"{count} x {answer}" for answer, count in tally.refused.most_common()) or "none"
    rows = [
        ("uploads attempted", str(tally.attempted)),
        ("accepted (202)", str(findings.accepted)),
        ("refused or cut off (not accepted)", refused),
        ("done", str(findings.done)),
        ("failed", str(len(findings.failed))),
        ("lost (202, no job)", str(len(findings.lost))),
        ("duplicated (stray objects)", str(len(findings.duplicated))),
        ("incomplete (renditions missing)", str(len(findings.incomplete))),
        ("stuck (queued / processing)", str(len(findings.stuck))),
        ("orphan originals", str(len(findings.orphans))),
        ("jobs whose 202 was never sent, done", str(findings.unanswered)),
        ("poison records dead-lettered", f"{findings.poison - _poison_missing(findings)}/{findings.poison}"),
        ("worker kills that found the job already done", str(result.idle_kills)),
        ("service restarts by the supervisor", str(sum(result.restarts.values()))),
        ("settled after the last fault (s)", f"{result.settled_s:.0f}"),
        ("meanwhile still repairing", ", ".join(result.waited_for) or "nothing"),
        ("whole run (s)", f"{result.total_s:.0f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _poison_missing(findings: Findings) -> int:
    return len({line.split(" in ")[0] for line in findings.undelivered_poison})


def print_report(console: Console, result: ChaosResult) -> None:
    console.print(f"[bold]Chaos run[/bold]: {result.plan.describe()}")
    console.print(fault_table(result.faults))
    console.print(outcome_table(result))
    if result.holds:
        console.print("[green]The promise held: every 202 ended done, once, and nothing is stuck.[/green]")
        return
    console.print("[red]The promise was broken:[/red]")
    for line in result.findings.violations():
        console.print(f"  - {line}")
    for fault in result.faults:
        if fault.recovered_s is None:
            console.print(f"  - no recovery within the deadline after {fault.kind} ({fault.detail})")
