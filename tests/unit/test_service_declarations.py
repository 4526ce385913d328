"""Each service's topics and groups are declared once; the README's table and the frame agree with it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from infra.local.stack import REPO_ROOT
from services.declarations import SERVICES, Deployed
from shared.events import JOBS_REQUESTED, JOBS_STATUS, LOGS, SERVICE_HEARTBEATS
from shared.frame import Consumes, ServiceDeclaration
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
