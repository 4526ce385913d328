"""Each service's topics and groups are declared once; the README's table and the frame agree with it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra.local.stack import REPO_ROOT
from services.declarations import SERVICES, Deployed
from services.monitoring.main import MONITORING
from services.reencoder.main import REENCODER
from shared.events import (
    JOBS_REQUESTED,
    JOBS_STATUS,
    LOGS,
    SERVICE_HEARTBEATS,
    VIDEO_TASKS,
    VIDEO_TASKS_FINISHED,
)
from shared.frame import Consumes, ServiceDeclaration
from shared.frame.declaration import shared_consumers
from shared.kafka import Delivery

README = (REPO_ROOT / "README.md").read_text()
ROW = re.compile(
    r"^\| \[`(?P<name>[\w-]+)`\]\((?P<path>[^)]+)\) \| (?P<consumes>[^|]*) \| (?P<produces>[^|]*) \|", re.M
)


def readme_rows() -> dict[str, dict[str, str]]:
    return {match["name"]: match.groupdict() for match in ROW.finditer(README)}


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.declaration.name)
def test_the_readme_table_lists_what_each_service_declares(service: Deployed) -> None:
    row = readme_rows()[service.declaration.name]
    assert row["path"] == f"services/{service.declaration.name}/main.py"
    consumed = set(re.findall(r"`([\w.-]+)` \((?:`([\w.-]+)`|(no group))\)", row["consumes"]))
    declared = {
        (e.topic.name, e.group or "", "" if e.group else "no group") for e in service.declaration.consumes
    }
    assert consumed == declared
    produced = set(re.findall(r"`([\w.-]+)`", row["produces"].split("(")[0]))
    assert produced == {topic.name for topic in service.declaration.produces}


def test_every_service_of_the_readme_is_declared() -> None:
    assert set(readme_rows()) == {service.declaration.name for service in SERVICES}


def test_a_consumer_group_belongs_to_one_service() -> None:
    owners: dict[str, str] = {}
    for service in SERVICES:
        for group in service.declaration.groups:
            assert owners.setdefault(group, service.declaration.name) == service.declaration.name, group


async def _ignore(_event: Any, _delivery: Delivery) -> None:
    return None


def test_heartbeats_advertise_what_the_frame_produces_besides_the_service() -> None:
    jobs = Consumes(JOBS_REQUESTED, "g")
    declaration = ServiceDeclaration("worker", consumes=(jobs,), produces=(JOBS_STATUS,))
    assert declaration.produced_topics == (
        JOBS_STATUS.name,
        SERVICE_HEARTBEATS.name,
        LOGS.name,
        "dead-letters",
    )
    assert declaration.consumed_topics == (JOBS_REQUESTED.name,)


def test_each_handled_entry_must_be_bound_exactly_once() -> None:
    jobs = Consumes(JOBS_REQUESTED, "g")
    status = Consumes(JOBS_STATUS, "g")
    declaration = ServiceDeclaration("worker", consumes=(jobs,))
    declaration.check_bindings([jobs.handled_by(_ignore)])
    with pytest.raises(ValueError, match=r"no handler for jobs\.requested"):
        declaration.check_bindings([])
    with pytest.raises(ValueError, match=r"jobs\.status in group g is not declared"):
        declaration.check_bindings([jobs.handled_by(_ignore), status.handled_by(_ignore)])
    with pytest.raises(ValueError, match="bound twice"):
        declaration.check_bindings([jobs.handled_by(_ignore), jobs.handled_by(_ignore)])


def test_a_topic_read_by_the_services_own_stream_takes_no_handler() -> None:
    streamed = Consumes(JOBS_STATUS, None, batch=True)
    with pytest.raises(ValueError, match="own stream"):
        streamed.handled_by(_ignore)
    assert ServiceDeclaration("reader", consumes=(streamed,)).handled == ()


def _consumers_of(declaration: ServiceDeclaration) -> list[list[str]]:
    """The topics each of the frame's consumers reads, for `declaration` with every entry bound."""
    bindings = [entry.handled_by(_ignore) for entry in declaration.handled]
    return [[binding.entry.topic.name for binding in shared] for shared in shared_consumers(bindings)]


def test_entries_of_one_group_share_one_consumer() -> None:
    # Monitoring's seven views are one member of its group (issue #18: one fetch loop, not seven).
    [views] = _consumers_of(MONITORING)
    assert views == [entry.topic.name for entry in MONITORING.handled]
    assert len(views) == 7


def test_entries_that_must_not_wait_on_each_other_have_groups_and_consumers_of_their_own() -> None:
    # An image job never waits behind a video task, nor a chunk's completion behind either.
    assert _consumers_of(REENCODER) == [
        [JOBS_REQUESTED.name],
        [VIDEO_TASKS.name],
        [VIDEO_TASKS_FINISHED.name],
    ]


def test_entries_of_one_group_that_commit_differently_get_consumers_of_their_own() -> None:
    every_record = Consumes(JOBS_REQUESTED, "g")
    deferred = Consumes(JOBS_STATUS, "g", commit_every_s=1.0)
    assert _consumers_of(ServiceDeclaration("s", consumes=(every_record, deferred))) == [
        [JOBS_REQUESTED.name],
        [JOBS_STATUS.name],
    ]
