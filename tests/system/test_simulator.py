"""Simulated users drive the real site through its public API, and the metrics service sees them."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Console

from services.simulator.run import Plan, print_summary, simulate
from tests.system.conftest import Site
from tests.system.test_metrics import summary_when


def test_simulated_users_upload_browse_and_click(small_site: Site) -> None:
    plan = Plan(
        base_url=small_site.stack.config.frontend_url,
        users=4,
        duration_s=20,
        think_s=0.3,
        ramp_up_s=1,
        videos=False,
    )
    console = Console(record=True, width=120)
    tally = asyncio.run(simulate(plan, console))
    print_summary(console, plan, tally)
    assert tally.users_registered == 4
    assert tally.actions["upload_image"] > 0
    assert tally.actions["click"] > 0
    assert tally.server_errors == 0, console.export_text()
    assert "requests" in console.export_text()

    def driven(summary: dict[str, Any]) -> bool:
        window = summary["windows"]["300s"]
        return (
            window["uploads"] > 0 and bool(window["top_links"]) and window["requests"] >= tally.requests // 2
        )

    summary_when(small_site.http, driven)
