"""The run's sequence: start the site, put it under load, inject the faults one after another, let
it settle, check the promise."""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path

from rich.console import Console

from infra.chaos.faults import FaultInjector, FaultRecord
from infra.chaos.invariants import PoisonRecord, check_until_held
from infra.chaos.load import BackgroundLoad, Media, Tally, Uploader, noise_png, sample_media
from infra.chaos.plan import ChaosPlan
from infra.chaos.report import ChaosResult
from infra.chaos.site import CACHE_DIR, ChaosSite

log = logging.getLogger(__name__)


def run_chaos(plan: ChaosPlan, state_dir: Path, console: Console, cache_dir: Path = CACHE_DIR) -> ChaosResult:
    """One whole run in `state_dir`; every process it starts is stopped before it returns."""
    started = time.monotonic()
    site = ChaosSite(state_dir, plan.workers, cache_dir)
    uploaders: list[Uploader] = []
    load: BackgroundLoad | None = None
    try:
        console.print(f"Starting three brokers, MinIO, PostgreSQL, the frontend and {plan.workers} workers")
        site.start()
        images, videos = sample_media(plan.seed)
        tally = Tally()
        uploaders = [Uploader(site.config.frontend_url, tally) for _ in range(plan.users + 1)]
        prober, *users = uploaders
        big_upload = Media("big.png", noise_png(1400, 1000, random.Random(plan.seed)), "image/png", "image")
        injector = FaultInjector(
            site,
            prober,
            probe=images[0],
            victim_image=images[-2],  # 2400 x 1600: four renditions, long enough to be caught mid-job
            victim_video=videos[0],
            recovery_s=plan.recovery_s,
            seed=plan.seed,
        )
        if injector.probe(time.monotonic()) is None:
            raise RuntimeError(
                f"the site did not finish a first upload; see the logs in {site.stack.logs_dir}"
            )
        load = BackgroundLoad(users, images, videos, plan.load_pause_s, plan.video_every, plan.seed)
        load.start()

        poison: list[PoisonRecord] = []
        every = max(1, plan.kills // (plan.frontend_kills + 1)) if plan.frontend_kills else 0
        frontend_kills = 0
        for number in range(1, plan.kills + 1):
            _progress(
                console, injector.kill_worker_mid_job(number, plan.video_victim_every), number, plan.kills
            )
            if every and number % every == 0 and frontend_kills < plan.frontend_kills:
                frontend_kills += 1
                _progress(
                    console,
                    injector.kill_frontend_mid_upload(big_upload),
                    frontend_kills,
                    plan.frontend_kills,
                )
        while frontend_kills < plan.frontend_kills:
            frontend_kills += 1
            _progress(
                console, injector.kill_frontend_mid_upload(big_upload), frontend_kills, plan.frontend_kills
            )
        _progress(console, injector.kill_jobs_leader(plan.outage_s))
        _progress(console, injector.stop_minio(plan.outage_s))
        _progress(console, injector.stop_postgres(plan.outage_s))
        poison = injector.poison()
        _progress(console, injector.records[-1])
        load.stop()

        console.print("Faults over; waiting for the invariants to hold")
        findings, settled_s, waited_for = check_until_held(
            site, tally.accepted_ids(), poison, plan.recovery_s
        )
        return ChaosResult(
            plan=plan,
            faults=injector.records,
            tally=tally,
            findings=findings,
            settled_s=settled_s,
            waited_for=waited_for,
            total_s=time.monotonic() - started,
            restarts=site.restarts(),
            idle_kills=injector.idle_kills,
        )
    finally:
        if load is not None and load.is_alive():
            load.stop()
        for uploader in uploaders:
            uploader.close()
        console.print("Stopping the site")
        site.stop()


def _progress(console: Console, fault: FaultRecord, number: int | None = None, of: int | None = None) -> None:
    took = "[red]not recovered[/red]" if fault.recovered_s is None else f"{fault.recovered_s:.1f} s"
    count = f" {number}/{of}" if number is not None else ""
    console.print(f"  {fault.kind}{count}: {fault.detail} → {took}")
