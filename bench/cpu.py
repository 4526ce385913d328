"""CPU seconds per process of a local stack, read from `/proc` (utime + stime), grouped by role.

Wall time on a shared machine moves with whatever else runs; the CPU time a process spent moves much
less, so the benchmarks report both. Every process below this one (the bench) is counted: the stack's
services, the broker's JVM, MinIO, and the children each of them starts (the reencoder's encoding
processes). A child that exits is still counted: its parent's `cutime`/`cstime` hold it once reaped.

Linux only (it reads `/proc`); elsewhere `sample()` returns nothing and the tables say so.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessTimes:
    pid: int
    ppid: int
    #: CPU seconds of the process itself, and of its children already reaped.
    own_s: float
    reaped_children_s: float
    argv: tuple[str, ...]


def read(pid: int) -> ProcessTimes | None:
    """The times of `pid`, or None when it is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        argv = tuple((PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")[:-1])
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return ProcessTimes(pid, ppid, (utime + stime) / _TICKS, (cutime + cstime) / _TICKS, argv)


def descendants(root: int) -> list[ProcessTimes]:
    """Every live process below `root` (not `root` itself)."""
    if not PROC.is_dir():
        return []
    everything = [
        times
        for entry in PROC.iterdir()
        if entry.name.isdigit()
        for times in [read(int(entry.name))]
        if times
    ]
    children: dict[int, list[ProcessTimes]] = defaultdict(list)
    for times in everything:
        children[times.ppid].append(times)
    found: list[ProcessTimes] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child.pid)
    return found


def role(argv: tuple[str, ...]) -> str:
    """A readable name for a top-level process of the stack."""
    if not argv:
        return "other"
    program = Path(argv[0]).name
    if program.startswith("java"):
        return "Kafka broker (JVM)"
    if program == "minio":
        return "MinIO"
    if "-m" in argv[:-1]:
        module = argv[argv.index("-m") + 1]
        return module.split(".")[1] if module.startswith("services.") else module
    return program


def children_of(service: str) -> str:
    return "encoding children" if service == "reencoder" else f"{service} children"


def sample(root: int | None = None) -> dict[str, float]:
    """CPU seconds so far per role, for every process below `root` (default: this process).

    Processes started by a service count under `children_of(service)` (for the reencoder:
    "encoding children"), so the work and the machinery around it read apart; several instances of
    one service add up.
    """
    root = os.getpid() if root is None else root
    processes = descendants(root)
    by_pid = {times.pid: times for times in processes}
    totals: dict[str, float] = defaultdict(float)
    for times in processes:
        top = times
        while top.ppid != root and top.ppid in by_pid:
            top = by_pid[top.ppid]
        service = role(top.argv)
        totals[service if top is times else children_of(service)] += times.own_s
        if times.reaped_children_s:
            totals[children_of(service)] += times.reaped_children_s
    return dict(totals)


def difference(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after.keys() | before.keys()}
