"""SASL on the local Kafka nodes, as compose configures its brokers (`make run-full`, tests).

Clients sign in with SCRAM-SHA-512 on the broker listener, the brokers among themselves too (the
`broker` principal); the controller listener takes SASL/PLAIN for that same principal only (SCRAM
credentials live in the metadata log the controllers serve, so they cannot guard it). Every
principal's SCRAM credential is written into the metadata log when a node is formatted
(`kafka-storage format --add-scram`), so it exists before the first client connects. The
StandardAuthorizer denies whatever no ACL allows; the ACLs come from shared/kafka/acls.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from shared.kafka.acls import ADMIN, BROKER, STORAGE_NOTIFIER
from shared.settings import KafkaSettings

MECHANISM = "SCRAM-SHA-512"
#: The listener names when SASL is on (compose's names, so the two configurations read alike).
CLIENT_LISTENER = "INTERNAL"
CONTROLLER_LISTENER = "CONTROLLER"


def _jaas(module: str, **options: str) -> str:
    # JAAS values are double-quoted strings; json.dumps quotes and escapes them the same way.
    pairs = " ".join(f"{key}={json.dumps(value)}" for key, value in options.items())
    return f"{module} required {pairs};"


@dataclass(frozen=True)
class KafkaSecurity:
    """Each principal's password (`broker` and `admin` among them)."""

    passwords: dict[str, str]

    def __post_init__(self) -> None:
        missing = {BROKER, ADMIN} - set(self.passwords)
        if missing:
            raise ValueError(f"Kafka SASL needs passwords for {sorted(missing)}")

    def client_settings(self, settings: KafkaSettings, principal: str = ADMIN) -> KafkaSettings:
        """`settings` signed in as `principal`."""
        return settings.model_copy(
            update={
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": MECHANISM,
                "sasl_username": principal,
                "sasl_password": self.passwords[principal],
            }
        )

    def format_arguments(self) -> list[str]:
        """`kafka-storage format` arguments writing every principal's SCRAM credential."""
        arguments: list[str] = []
        for principal, password in sorted(self.passwords.items()):
            arguments += ["--add-scram", f"{MECHANISM}=[name={principal},password={password}]"]
        return arguments

    def broker_properties(self, host: str, port: int, controller_port: int) -> dict[str, str | int]:
        """The listener, authentication and authorisation settings of one node."""
        broker_password = self.passwords[BROKER]
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
        plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
        client, controller = CLIENT_LISTENER.lower(), CONTROLLER_LISTENER.lower()
        return {
            "listeners": f"{CLIENT_LISTENER}://{host}:{port},{CONTROLLER_LISTENER}://{host}:{controller_port}",
            "advertised.listeners": f"{CLIENT_LISTENER}://{host}:{port}",
            "listener.security.protocol.map": (
                f"{CLIENT_LISTENER}:SASL_PLAINTEXT,{CONTROLLER_LISTENER}:SASL_PLAINTEXT"
            ),
            "inter.broker.listener.name": CLIENT_LISTENER,
            "sasl.mechanism.inter.broker.protocol": MECHANISM,
            "sasl.mechanism.controller.protocol": "PLAIN",
            f"listener.name.{client}.sasl.enabled.mechanisms": MECHANISM,
            f"listener.name.{client}.{MECHANISM.lower()}.sasl.jaas.config": _jaas(
                scram, username=BROKER, password=broker_password
            ),
            f"listener.name.{controller}.sasl.enabled.mechanisms": "PLAIN",
            f"listener.name.{controller}.plain.sasl.jaas.config": _jaas(
                plain, username=BROKER, password=broker_password, **{f"user_{BROKER}": broker_password}
            ),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{BROKER};User:{ADMIN}",
        }

    def minio_notification_env(self) -> dict[str, str]:
        """MinIO's Kafka notification target signed in as its own principal (compose sets the same)."""
        return {
            "MINIO_NOTIFY_KAFKA_SASL_PRIMARY": "on",
            "MINIO_NOTIFY_KAFKA_SASL_MECHANISM_PRIMARY": "sha512",
            "MINIO_NOTIFY_KAFKA_SASL_USERNAME_PRIMARY": STORAGE_NOTIFIER,
            "MINIO_NOTIFY_KAFKA_SASL_PASSWORD_PRIMARY": self.passwords[STORAGE_NOTIFIER],
        }


def password_variable(principal: str) -> str:
    """The variable holding a principal's password in .env and compose (`KAFKA_FRONTEND_PASSWORD`)."""
    return f"KAFKA_{principal.upper()}_PASSWORD"


def security_from_variables(principals: list[str], variables: Mapping[str, str]) -> KafkaSecurity:
    """Each principal's password from compose's variables; a principal compose has none for is said."""
    missing = [password_variable(p) for p in principals if not variables.get(password_variable(p))]
    if missing:
        raise ValueError(f"docker-compose.yml and .env need {', '.join(missing)} (one per Kafka principal)")
    return KafkaSecurity({principal: variables[password_variable(principal)] for principal in principals})
