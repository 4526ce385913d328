"""Who may read and write what on the cluster: Kafka ACLs derived from the service declarations.

Where brokers authenticate clients (compose and `make run-full`, SASL/SCRAM-SHA-512), each service
signs in as its own principal, named like the service, and the brokers deny whatever no ACL allows
(`allow.everyone.if.no.acl.found=false`). The ACLs are not written by hand: each declared service
may read the topics it consumes (and join its consumer groups) and write the topics it produces,
frame topics included (heartbeats, logs, dead letters). Two grants the declarations cannot say are
named here once: the operator's view (monitoring describes every topic and every declared group to
show lag) and MinIO, whose bucket notifications are written to `storage.events` by MinIO itself.
The `admin` principal (the CLI, `reencode init`, the tutorial) and `broker` are super users.

`reencode init` applies the set with `apply_acls`, as the admin principal, before any service starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from aiokafka.protocol.admin import CreateAclsRequest

from shared.events import ALL_TOPICS, STORAGE_AUDIT, STORAGE_EVENTS, Topic
from shared.frame import ServiceDeclaration
from shared.kafka.clients import admin_client
from shared.settings import KafkaSettings

#: The operator's principal: the CLI, `reencode init` and the tutorial; a super user.
ADMIN = "admin"
#: The brokers' own principal between themselves and towards the controllers; a super user.
BROKER = "broker"
#: MinIO's Kafka notification target, which publishes stored originals.
STORAGE_NOTIFIER = "minio"
#: Services that show the cluster to operators: they describe every topic and every declared group.
OBSERVERS = ("monitoring",)
#: Topics written by something other than a service of ours, by principal.
EXTERNAL_PRODUCERS: dict[str, tuple[Topic[Any], ...]] = {STORAGE_NOTIFIER: (STORAGE_EVENTS, STORAGE_AUDIT)}


class Resource(IntEnum):
    """Kafka's resource type codes (org.apache.kafka.common.resource.ResourceType)."""

    TOPIC = 2
    GROUP = 3


class Operation(IntEnum):
    """Kafka's ACL operation codes (org.apache.kafka.common.acl.AclOperation)."""

    READ = 3
    WRITE = 4
    DESCRIBE = 8


_LITERAL = 3  # PatternType.LITERAL: the resource named exactly, never a prefix
_ALLOW = 3  # AclPermissionType.ALLOW
_ANY_HOST = "*"


@dataclass(frozen=True, order=True)
class Acl:
    """`principal` may do `operation` on the topic or group called `name` (exactly that name)."""

    principal: str
    resource: Resource
    name: str
    operation: Operation

    @property
    def kafka_principal(self) -> str:
        return f"User:{self.principal}"

    def __str__(self) -> str:
        return f"{self.kafka_principal} {self.operation.name} {self.resource.name.lower()} {self.name}"


def service_acls(declaration: ServiceDeclaration) -> set[Acl]:
    """What one service may do: read its consumed topics in its groups, write its produced topics.

    READ implies DESCRIBE (metadata, offsets) and WRITE implies DESCRIBE and, since Kafka 3.0, the
    idempotent producer's id: nothing else is needed for acks=all with idempotence.
    """
    name = declaration.name
    return {
        *(Acl(name, Resource.TOPIC, topic, Operation.READ) for topic in declaration.consumed_topics),
        *(Acl(name, Resource.GROUP, group, Operation.READ) for group in declaration.groups),
        *(Acl(name, Resource.TOPIC, topic, Operation.WRITE) for topic in declaration.produced_topics),
    }


def observer_acls(principal: str, declarations: Iterable[ServiceDeclaration]) -> set[Acl]:
    """Describe every catalogue topic and every declared group: lag and offsets, no records."""
    groups = {group for declaration in declarations for group in declaration.groups}
    return {
        *(Acl(principal, Resource.TOPIC, topic.name, Operation.DESCRIBE) for topic in ALL_TOPICS),
        *(Acl(principal, Resource.GROUP, group, Operation.DESCRIBE) for group in groups),
    }


def cluster_acls(declarations: Iterable[ServiceDeclaration]) -> list[Acl]:
    """Every ACL of the site, sorted: each service's own, the observers', the external producers'."""
    declared = list(declarations)
    acls: set[Acl] = set()
    for declaration in declared:
        acls |= service_acls(declaration)
        if declaration.name in OBSERVERS:
            acls |= observer_acls(declaration.name, declared)
    for principal, topics in EXTERNAL_PRODUCERS.items():
        acls |= {Acl(principal, Resource.TOPIC, topic.name, Operation.WRITE) for topic in topics}
    return sorted(acls)


def principals(declarations: Iterable[ServiceDeclaration]) -> list[str]:
    """Every principal the cluster knows: one per service, MinIO's, and the two super users."""
    return [*(d.name for d in declarations), *EXTERNAL_PRODUCERS, ADMIN, BROKER]


class AclRefused(RuntimeError):
    """The cluster did not create an ACL (e.g. the caller is not a super user)."""


async def apply_acls(settings: KafkaSettings, acls: Iterable[Acl]) -> int:
    """Create each ACL on the cluster (creating an existing one changes nothing); returns how many.

    aiokafka's admin client has no `create_acls`, so its CreateAcls request is sent as the client
    sends its own requests. `settings` must sign in as a super user (the admin principal).
    """
    wanted = list(acls)
    async with admin_client(settings, client_id="reencode-acls") as admin:
        for acl in wanted:
            request = CreateAclsRequest(
                acl.resource, acl.name, _LITERAL, acl.kafka_principal, _ANY_HOST, acl.operation, _ALLOW
            )
            response = await admin._send_request(request)
            for error_code, message in response.creation_responses:
                if error_code:
                    raise AclRefused(f"{acl}: Kafka error {error_code} {message or ''}".strip())
    return len(wanted)
