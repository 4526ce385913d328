"""The ACLs are derived from the service declarations: each service gets its own topics and groups,
and nothing more."""

from __future__ import annotations

from services.declarations import SERVICES
from shared.kafka.acls import (
    EXTERNAL_PRODUCERS,
    OBSERVERS,
    Acl,
    Operation,
    Resource,
    cluster_acls,
    principals,
)

DECLARATIONS = [deployed.declaration for deployed in SERVICES]
ACLS = cluster_acls(DECLARATIONS)


def granted(principal: str, resource: Resource, operation: Operation) -> set[str]:
    return {
        a.name for a in ACLS if (a.principal, a.resource, a.operation) == (principal, resource, operation)
    }


def test_each_service_reads_what_it_consumes_and_writes_what_it_produces_and_nothing_more() -> None:
    for d in DECLARATIONS:
        assert granted(d.name, Resource.TOPIC, Operation.READ) == set(d.consumed_topics), d.name
        assert granted(d.name, Resource.TOPIC, Operation.WRITE) == set(d.produced_topics), d.name
        assert granted(d.name, Resource.GROUP, Operation.READ) == set(d.groups), d.name


def test_only_observers_describe_and_only_what_is_declared() -> None:
    groups = {group for d in DECLARATIONS for group in d.groups}
    describing = {a.principal for a in ACLS if a.operation is Operation.DESCRIBE}
    assert describing == set(OBSERVERS)
    for observer in OBSERVERS:
        assert granted(observer, Resource.GROUP, Operation.DESCRIBE) == groups


def test_no_wildcards_prefixes_or_unknown_principals() -> None:
    known = set(principals(DECLARATIONS))
    assert all(isinstance(a, Acl) and a.principal in known for a in ACLS)
    assert not [a for a in ACLS if "*" in a.name or a.name == ""]
    # Super users need no ACLs: none is granted to them, so none can widen anyone else's.
    assert not [a for a in ACLS if a.principal in ("admin", "broker")]


def test_minio_writes_only_its_notifications() -> None:
    for principal, topics in EXTERNAL_PRODUCERS.items():
        assert {a for a in ACLS if a.principal == principal} == {
            Acl(principal, Resource.TOPIC, topic.name, Operation.WRITE) for topic in topics
        }


def test_the_reencoder_may_not_request_jobs_nor_the_frontend_report_them() -> None:
    assert "jobs.requested" not in granted("reencoder", Resource.TOPIC, Operation.WRITE)
    assert "jobs.status" not in granted("frontend", Resource.TOPIC, Operation.WRITE)
