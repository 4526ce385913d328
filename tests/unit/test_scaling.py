"""`reencode scale`: the request's spelling, and a stack brought to the counts it asks for."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from infra.local.nginx import NGINX_CONF, NginxServer
from infra.local.scaling import (
    ScaleError,
    Scaler,
    compose_command,
    instances_of,
    parse_request,
    refusal,
    request_scale,
    running_instances,
)


def test_a_request_reads_service_equals_count() -> None:
    assert parse_request(["reencoder=4", "metrics=2"]) == {"reencoder": 4, "metrics": 2}


@pytest.mark.parametrize(
    ("pairs", "reason"),
    [
        (["reencoder"], "SERVICE=COUNT"),
        (["dblogs=3"], "cannot be scaled"),
        (["frontend=0"], "at least 1"),
        (["metrics=0"], "at least 1"),
        (["reencoder=-1"], "SERVICE=COUNT"),
        ([], "say what to scale"),
    ],
)
def test_a_bad_request_says_why(pairs: list[str], reason: str) -> None:
    with pytest.raises(ScaleError, match=reason):
        parse_request(pairs)


def test_the_compose_equivalent_is_up_with_scale() -> None:
    assert compose_command({"reencoder": 4}) == "docker compose up -d --no-recreate --scale reencoder=4"


def test_instances_are_the_plain_name_and_the_numbered_ones_in_order() -> None:
    names = ["reencoder-10", "frontend", "reencoder-2", "metrics", "reencoder-1", "reencoder-x"]
    assert instances_of("reencoder", names) == ["reencoder-1", "reencoder-2", "reencoder-10"]
    assert instances_of("metrics", names) == ["metrics"]


class FakeStack:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.stopped: list[str] = []

    def start(self, service: str, name: str) -> None:
        self.names.append(name)

    def remove(self, name: str) -> Callable[[], None]:
        self.names.remove(name)
        return lambda: self.stopped.append(name)

    def scaler(self, state_dir: Path) -> Scaler:
        return Scaler(state_dir, self.start, self.remove, lambda: list(self.names))


def test_the_stack_starts_the_missing_instances_and_stops_the_newest_extra_ones(tmp_path: Path) -> None:
    stack = FakeStack(["frontend", "metrics", "reencoder-1", "reencoder-2"])
    scaler = stack.scaler(tmp_path)
    scaler.reset()
    assert running_instances(tmp_path)["reencoder"] == ["reencoder-1", "reencoder-2"]

    request_scale(tmp_path, {"reencoder": 4})
    assert scaler.apply() == ["+reencoder-3", "+reencoder-4"]
    assert scaler.apply() == []  # nothing new asked
    assert running_instances(tmp_path)["reencoder"] == [f"reencoder-{i}" for i in (1, 2, 3, 4)]

    request_scale(tmp_path, {"reencoder": 1, "metrics": 2})
    assert scaler.apply() == ["+metrics-2", "-reencoder-4", "-reencoder-3", "-reencoder-2"]
    scaler.wait_for_stops(5)
    assert stack.stopped == ["reencoder-4", "reencoder-3", "reencoder-2"]
    assert running_instances(tmp_path) == {"reencoder": ["reencoder-1"], "metrics": ["metrics", "metrics-2"]}


def test_an_earlier_runs_request_does_not_apply_to_a_new_stack(tmp_path: Path) -> None:
    request_scale(tmp_path, {"reencoder": 5})
    stack = FakeStack(["reencoder-1"])
    scaler = stack.scaler(tmp_path)
    scaler.reset()
    assert scaler.apply() == []
    assert stack.names == ["reencoder-1"]


def test_plain_make_run_refuses_to_scale_frontends_and_says_why(tmp_path: Path) -> None:
    plain = FakeStack(["frontend", "metrics", "reencoder-1"]).scaler(tmp_path)
    plain.reset()
    reason = refusal(tmp_path, {"frontend": 3, "reencoder": 2})
    assert reason is not None
    assert "make run-full" in reason
    assert "load balancer" in reason
    assert refusal(tmp_path, {"reencoder": 2}) is None
    assert refusal(tmp_path / "nothing-ran-here", {"frontend": 3}) is None  # waits for a stack instead


def test_the_full_stack_scales_frontends(tmp_path: Path) -> None:
    stack = FakeStack(["frontend-1", "frontend-2", "metrics", "reencoder-1"])
    scaler = Scaler(tmp_path, stack.start, stack.remove, lambda: list(stack.names), {"frontend": 1})
    scaler.reset()
    assert refusal(tmp_path, {"frontend": 3}) is None
    request_scale(tmp_path, {"frontend": 3})
    assert scaler.apply() == ["+frontend-3"]
    request_scale(tmp_path, {"frontend": 1})
    assert scaler.apply() == ["-frontend-3", "-frontend-2"]


def test_nginx_gets_a_new_frontend_list_in_its_rendered_config(tmp_path: Path) -> None:
    """`reencode scale frontend=3` on make run-full: compose's one `server frontend:8000 ...` line
    becomes one line per running frontend, with the same parameters."""
    upstream = "frontend:8000"
    others: dict[str, Sequence[str]] = {
        address: ["127.0.0.1:1"]
        for address in re.findall(r"^\s*server\s+(\S+:\d+)", NGINX_CONF.read_text(), flags=re.M)
        if address != upstream
    }
    lb = NginxServer.__new__(NginxServer)  # the config only: no nginx binary needed
    lb.state_dir, lb.port, lb.config_path = tmp_path, 8000, tmp_path / "nginx.conf"
    lb.upstreams = others | {upstream: ["127.0.0.1:8010", "127.0.0.1:8011"]}
    lb.process = FakeProcess()  # type: ignore[assignment]
    lb.set_upstream(upstream, ["127.0.0.1:8010", "127.0.0.1:8011", "127.0.0.1:8012"])
    servers = re.findall(r"server (127\.0\.0\.1:80\d\d)( [^;]*)?;", lb.config_path.read_text())
    assert [address for address, _ in servers] == ["127.0.0.1:8010", "127.0.0.1:8011", "127.0.0.1:8012"]
    assert len({parameters for _, parameters in servers}) == 1  # max_fails etc. on every one
    with pytest.raises(ValueError, match="at least one"):
        lb.set_upstream(upstream, [])


class FakeProcess:
    is_running = False
