"""Requests per second through nginx (compose's nginx.conf) with two frontends, against one frontend
asked directly and nginx with one frontend behind it.

    .venv/bin/python -m bench.nginx                     # 10 s per setup, 32 connections
    .venv/bin/python -m bench.nginx --seconds 20 --connections 64

A private stack (one Kafka node, MinIO, SQLite) runs two frontend processes; Debian's nginx renders
compose's infra/nginx/nginx.conf twice (infra/local/nginx.py), once naming one frontend and once
both. Debian's `wrk` (installed with apt when missing) drives a signed-in `GET /api/jobs` (bearer
token, a database read and a JSON answer: the commonest request of the pages) with one thread.
Every process shares the machine's cores, the load generator included: the ratio says what a second
frontend buys on this machine, and the same figures on more cores say more. Prints, never fails on time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import typer

from infra.local.debian import ensure_debian_binary
from infra.local.nginx import NGINX_CONF, NginxServer, upstream_servers
from infra.local.processes import free_port, wait_for_port
from infra.local.stack import REPO_ROOT, LocalStack, StackConfig
from tests.api_client import sign_up

ROUTE = "/api/jobs"


@dataclass(frozen=True)
class Run:
    setup: str
    requests_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    errors: int


def wrk(url: str, header: str, seconds: int, connections: int) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, non-2xx or socket errors) of `wrk --latency` on `url`."""
    binary = ensure_debian_binary("wrk", "wrk")
    command = [
        binary,
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-H",
        header,
        url,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if os.environ.get("BENCH_VERBOSE"):
        print(output)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])  # type: ignore[index]
    latency = {q: _ms(v) for q, v in re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.M)}
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", output))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    return rate, latency.get("50", 0.0), latency.get("99", 0.0), errors


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main(
    seconds: int = typer.Option(10, help="Seconds of load per setup."),
    connections: int = typer.Option(32, help="Connections wrk keeps open."),
) -> None:
    state = Path(tempfile.mkdtemp(prefix="bench-nginx-", dir=REPO_ROOT / ".state"))
    config = StackConfig.on_free_ports(state, REPO_ROOT / ".state" / "cache")
    # Serving is measured, not telemetry (bench.metrics measures that): no metric events.
    config.service_env = {"FRONTEND_METRIC_EVENTS": "false"}
    stack = LocalStack(config)
    second_port = free_port()
    lbs: list[NginxServer] = []
    try:
        print("starting Kafka, MinIO and two frontends ...")
        stack.start_infrastructure()
        first = stack.start_service("frontend", "services.frontend")
        second = stack.start_service("frontend-2", "services.frontend", {"FRONTEND_PORT": str(second_port)})
        wait_for_port("127.0.0.1", config.frontend_port, timeout=90, process=first)
        wait_for_port("127.0.0.1", second_port, timeout=90, process=second)
        frontends = [f"127.0.0.1:{config.frontend_port}", f"127.0.0.1:{second_port}"]
        # Every upstream server the conf names needs a local address; only the frontends matter here.
        servers = upstream_servers(NGINX_CONF.read_text())
        for count in (1, 2):
            lb = NginxServer(
                state / f"lb-{count}",
                free_port(),
                {
                    address: frontends[:count] if name == "frontend" else [config.storage.endpoint]
                    for name, address in servers.items()
                },
                stack.logs_dir / f"lb-{count}.log",
            )
            lb.start()
            lbs.append(lb)
        with httpx.Client(base_url=config.frontend_url, timeout=30) as http:
            sign_up(http)
            authorization = f"Authorization: {http.headers['Authorization']}"
            assert http.get(ROUTE).status_code == 200
        setups = [
            ("one frontend, directly", f"{config.frontend_url}{ROUTE}"),
            ("nginx, one frontend", f"{lbs[0].url}{ROUTE}"),
            ("nginx, two frontends", f"{lbs[1].url}{ROUTE}"),
        ]
        runs = [Run(name, *wrk(url, authorization, seconds, connections)) for name, url in setups]
    finally:
        for lb in lbs:
            lb.stop()
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)
    report(runs, seconds, connections)


def report(runs: list[Run], seconds: int, connections: int) -> None:
    print(f"\nGET {ROUTE} (bearer token), {connections} connections, {seconds} s each:")
    print(f"{'setup':<26}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for run in runs:
        print(
            f"{run.setup:<26}{run.requests_per_s:>10.0f}{run.latency_p50_ms:>10.1f}"
            f"{run.latency_p99_ms:>10.1f}{run.errors:>8}"
        )
    direct, one, two = (run.requests_per_s for run in runs)
    print(f"\nnginx's cost with one frontend: {one / direct:.2f}x the direct rate")
    print(
        f"two frontends behind nginx: {two / direct:.2f}x one frontend directly, "
        f"{two / one:.2f}x nginx with one"
    )


if __name__ == "__main__":
    typer.run(main)
