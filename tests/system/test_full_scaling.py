"""`reencode scale frontend=N` on `make run-full`: nginx's upstream follows the frontends running.

A stack of its own (the full topology's fixture); moving this test into test_full_topology.py would
share that module's stack and save its start.
"""

from __future__ import annotations

import re

import httpx

from infra.local.full import FullTopology
from infra.local.scaling import full_scaler
from tests.eventually import eventually
from tests.system import test_full_topology
from tests.system.test_scaling import scale_command

full = test_full_topology.full


def requests_served(port: int) -> float:
    """Requests the frontend on `port` answered, by its own /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    counts = re.findall(
        r'^reencode_http_request_duration_seconds_count\{[^}]*route="/api/jobs"[^}]*\} (\S+)$', text, re.M
    )
    return sum(float(count) for count in counts)


def upstream_ports(topology: FullTopology) -> list[int]:
    conf = topology.lb.config_path.read_text()
    upstream = re.search(r"upstream frontend \{(.*?)\}", conf, flags=re.S)
    assert upstream is not None
    return [int(port) for port in re.findall(r"server 127\.0\.0\.1:(\d+)", upstream.group(1))]


def test_a_third_frontend_joins_nginx_and_scaling_to_one_leaves_no_request_failing(
    full: FullTopology,
) -> None:
    scaler = full_scaler(full)
    scaler.reset()  # as `make run-full` does when it starts
    state = full.config.state_dir
    up = scale_command(state, scaler, "frontend=3")
    assert up.returncode == 0, up.stdout
    assert "frontend: frontend-1, frontend-2, frontend-3" in up.stdout
    ports = {name: port for name, (_service, port) in full.instances.items() if name.startswith("frontend")}
    assert sorted(upstream_ports(full)) == sorted(p for p in ports.values() if p is not None)

    with test_full_topology.client(full) as site:
        # nginx balances round-robin: the new one answers its share of requests sent through nginx.
        def the_new_frontend_answered() -> bool:
            for _ in range(6):
                assert site.get("/api/jobs").status_code == 401
            port = ports["frontend-3"]
            return port is not None and requests_served(port) > 0

        eventually(the_new_frontend_answered, timeout=60, what="a request through nginx served by frontend-3")

        down = scale_command(state, scaler, "frontend=1")
        assert down.returncode == 0, down.stdout
        assert "frontend: frontend-1" in down.stdout
        assert upstream_ports(full) == [ports["frontend-1"]]
        # The removed two left nginx before they stopped: nothing routed to them fails.
        assert {site.get("/api/jobs").status_code for _ in range(20)} == {401}
