"""Compose's Kafka is locked the way the local SASL nodes are (infra/local/kafka_security.py): every
service signs in as the principal named like it, with a password compose refuses to start without,
the brokers know every principal's credential from their first start, and their listener and
authoriser settings are the local ones."""

from __future__ import annotations

import re

import pytest

from infra.local.compose_file import COMPOSE_FILE, load_services, required_variables
from infra.local.kafka_security import KafkaSecurity, password_variable
from services.declarations import SERVICES as DEPLOYED
from shared.kafka.acls import ADMIN, principals

PRINCIPALS = principals(d.declaration for d in DEPLOYED)
#: Each password variable stands for itself, so compose's values compare with the local ones.
PLACEHOLDERS = {name: f"<{password_variable(name)}>" for name in PRINCIPALS}
COMPOSE = load_services(
    # Every secret compose requires, whatever later features add; the principals' stand for themselves.
    dict.fromkeys(required_variables(), "secret")
    | {variable: PLACEHOLDERS[name] for name in PRINCIPALS for variable in [password_variable(name)]},
    COMPOSE_FILE,
)
APPS = {name: s for name, s in COMPOSE.items() if s.command[:1] in (["python"], ["reencode"])}
NODES = {name: s for name, s in COMPOSE.items() if re.fullmatch(r"kafka-\d+", name)}


def image_property(variable: str) -> str:
    """The apache/kafka image's renaming: `___` is '-', `__` is '_', `_` is '.'."""
    name = variable.removeprefix("KAFKA_").replace("___", "-").replace("__", "@").replace("_", ".")
    return name.replace("@", "_").lower()


@pytest.mark.parametrize("name", sorted(APPS))
def test_each_app_service_signs_in_as_its_own_principal(name: str) -> None:
    env = APPS[name].environment
    module = APPS[name].command[-1]
    expected = module.removeprefix("services.") if APPS[name].command[0] == "python" else ADMIN
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    assert env["KAFKA_SASL_USERNAME"] == expected
    assert env["KAFKA_SASL_PASSWORD"] == PLACEHOLDERS[expected]


def test_compose_refuses_to_start_without_every_principals_password() -> None:
    assert {password_variable(name) for name in PRINCIPALS} <= required_variables()


@pytest.mark.parametrize("node", sorted(NODES))
def test_a_new_broker_knows_every_principal(node: str) -> None:
    pairs = NODES[node].environment["SCRAM_CREDENTIALS"].split()
    assert dict(pair.split("=", 1) for pair in pairs) == PLACEHOLDERS


@pytest.mark.parametrize("node", sorted(NODES))
def test_broker_authentication_and_authorisation_match_the_local_nodes(node: str) -> None:
    compose = {image_property(k): v for k, v in NODES[node].environment.items() if k.startswith("KAFKA_")}
    local = KafkaSecurity(PLACEHOLDERS).broker_properties("host", 1, 2)
    for key in set(local) - {"listeners", "advertised.listeners"}:
        assert compose.get(key) == str(local[key]), key
    assert compose["inter.broker.listener.name"] == "INTERNAL"


def test_minio_signs_in_as_its_principal_as_locally() -> None:
    env = COMPOSE["minio"].environment
    expected = KafkaSecurity(PLACEHOLDERS).minio_notification_env()
    assert {key: env.get(key) for key in expected} == expected
