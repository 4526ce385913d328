"""`reencode simulate`: many simulated users at once, with a progress bar and a summary at the end."""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass

import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from services.simulator.behaviour import Behaviour, run_user
from services.simulator.media import generated_video, sample_pool
from services.simulator.tally import Tally

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Seconds in `90`, `90s`, `5m`, `1.5h` or `500ms`; ValueError with the accepted forms otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 5m, 1h)")
    return float(match.group(1)) * _UNIT_S[match.group(2) or "s"]


@dataclass(frozen=True)
class Plan:
    base_url: str
    users: int
    duration_s: float
    think_s: float = 3.0
    #: Users start spread over this many seconds, as visitors arrive rather than all at once.
    ramp_up_s: float = 5.0
    videos: bool = True
    seed: int = 1


async def simulate(plan: Plan, console: Console | None = None) -> Tally:
    """Run `plan` against the site; returns what the users did."""
    console = console or Console()
    tally = Tally()
    pool = await asyncio.to_thread(sample_pool, plan.seed)
    video = await asyncio.to_thread(generated_video) if plan.videos else None
    until = time.monotonic() + plan.duration_s
    limits = httpx.Limits(max_connections=max(10, plan.users * 2))

    async def one_user(index: int) -> None:
        await asyncio.sleep(plan.ramp_up_s * index / max(1, plan.users))
        async with httpx.AsyncClient(base_url=plan.base_url, timeout=30, limits=limits) as client:
            behaviour = Behaviour(pool, video, plan.think_s, tally, random.Random(plan.seed * 10_000 + index))
            await run_user(client, behaviour, until)

    with Progress(
        TextColumn("[bold]simulating[/] {task.fields[users]} users"),
        BarColumn(),
        TextColumn("{task.fields[requests]} requests · {task.fields[errors]} server errors"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("run", total=plan.duration_s, users=plan.users, requests=0, errors=0)
        runs = [asyncio.create_task(one_user(i)) for i in range(plan.users)]
        started = time.monotonic()
        while not all(run.done() for run in runs):
            await asyncio.wait(runs, timeout=0.5)
            progress.update(
                task,
                completed=min(plan.duration_s, time.monotonic() - started),
                requests=tally.requests,
                errors=tally.server_errors,
            )
        for run in runs:
            run.result()  # a bug in the simulator itself should not pass silently
    return tally


def print_summary(console: Console, plan: Plan, tally: Tally) -> None:
    table = Table(title=f"{plan.users} users for {plan.duration_s:.0f} s against {plan.base_url}")
    for column in ("action", "count", "answers", "p50", "p95"):
        table.add_column(column, justify="right" if column != "action" else "left")
    for row in tally.rows():
        table.add_row(row[0], str(row[1]), row[2], row[3], row[4])
    console.print(table)
    console.print(
        f"{tally.requests} requests, {tally.server_errors} server errors, "
        f"{tally.users_registered} users registered"
        + (" · the site refused videos (415): images only" if tally.videos_refused else "")
    )
    for failure, count in tally.failures.most_common(10):
        console.print(f"[red]{count} x {failure}")
    console.print(f"Watch it: {plan.base_url}/dashboard")
