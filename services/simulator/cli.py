"""The `reencode simulate` command (registered on the project's CLI by infra/local/cli.py)."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from services.simulator.run import Plan, parse_duration, print_summary, simulate


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate_users(
        users: int = typer.Option(10, "--users", min=1, help="How many users act at the same time."),
        duration: str = typer.Option("1m", "--duration", help="How long, e.g. 30s, 5m, 1h."),
        url: str = typer.Option("http://127.0.0.1:8000", "--url", help="The site's public address."),
        think: float = typer.Option(3.0, "--think", min=0.0, help="Mean pause between a user's actions (s)."),
        videos: bool = typer.Option(True, "--videos/--no-videos", help="Also upload short generated videos."),
        seed: int = typer.Option(1, "--seed", help="Same seed, same choices."),
    ) -> None:
        """Simulated users sign up, upload, browse and click through the public API."""
        try:
            seconds = parse_duration(duration)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--duration") from error
        console = Console()
        plan = Plan(
            base_url=url.rstrip("/"), users=users, duration_s=seconds, think_s=think, videos=videos, seed=seed
        )
        tally = asyncio.run(simulate(plan, console))
        print_summary(console, plan, tally)
