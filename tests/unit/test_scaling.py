"""`reencode scale`: the request's spelling, and a stack brought to the counts it asks for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from infra.local.scaling import (
    ScaleError,
    Scaler,
    compose_command,
    instances_of,
    parse_request,
    request_scale,
    running_instances,
)


def test_a_request_reads_service_equals_count() -> None:
    assert parse_request(["reencoder=4", "metrics=2"]) == {"reencoder": 4, "metrics": 2}


@pytest.mark.parametrize(
    ("pairs", "reason"),
    [
        (["reencoder"], "SERVICE=COUNT"),
        (["frontend=3"], "cannot be scaled"),
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
