"""The configuration every service shares; each service extends it with its own settings.

One object per service, built once in its `main()` from the environment and passed down: nothing
below the entry point reads the environment itself, and a test builds the whole configuration with
the values it wants.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.frame.slow_clients import header_deadline_protocol
from shared.frame.telemetry import TelemetrySettings
from shared.settings import KafkaSettings, default_instance_id


class InstanceSettings(BaseSettings):
    """Which running process this is: `INSTANCE_ID`, the same variable in every service."""

    model_config = SettingsConfigDict(env_prefix="")

    #: Unset: `<service>@<host>:<pid>`, unique per process (a scaled compose service's replicas too).
    instance_id: str | None = None

    def resolve(self, service: str) -> str:
        return self.instance_id or default_instance_id(service)


class HttpSettings(BaseSettings):
    """Where an HTTP service listens. Subclasses set the env prefix and the default port."""

    host: str = "127.0.0.1"
    port: int = 8000
    #: Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDR networks,
    #: comma-separated; `*` trusts anyone): the load balancer's. Requests from elsewhere keep their
    #: socket's address, so a client cannot forge its way past the login throttle.
    forwarded_allow_ips: str = "127.0.0.1"
    #: Slow clients (slowloris) cannot hold a connection: a request's headers must be complete this
    #: long after the connection opens or the previous response ends, or the connection is closed.
    header_timeout_s: float = 10.0
    #: A request body that sends nothing for this long is answered 408 and its bytes dropped.
    body_idle_timeout_s: float = 30.0
    #: An idle keep-alive connection is closed after this long.
    keep_alive_timeout_s: int = 5
    #: The most bytes of a request's line and headers (h11 buffers no more; larger is a 431/400).
    max_header_bytes: int = 16 * 1024

    def server_options(self) -> dict[str, Any]:
        """uvicorn's options for these limits (its h11 parser, which bounds header size; a deadline
        for headers, which uvicorn itself lacks)."""
        return {
            "http": header_deadline_protocol(self.header_timeout_s),
            "timeout_keep_alive": self.keep_alive_timeout_s,
            "h11_max_incomplete_event_size": self.max_header_bytes,
        }


class MetricsEndpointSettings(BaseSettings):
    """Where a service without HTTP of its own (a worker) serves `/metrics` and `/healthz` for
    Prometheus. HTTP services serve both on their own port and ignore these."""

    model_config = SettingsConfigDict(env_prefix="TELEMETRY_METRICS_")

    #: `TELEMETRY_METRICS_PORT`: 0 (the default) serves nothing. Compose gives every worker the same
    #: port (each container has its own address); the local stack gives each process a free one.
    port: int = 0
    host: str = "127.0.0.1"


class ServiceConfig(BaseModel):
    """What every service needs: the cluster, who it is, and how it reports on itself."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    instance: InstanceSettings = Field(default_factory=InstanceSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    metrics_endpoint: MetricsEndpointSettings = Field(default_factory=MetricsEndpointSettings)

    def http(self) -> HttpSettings | None:
        """The service's listening address, if it serves HTTP (HTTP services override this)."""
        return None

    @classmethod
    def settings_classes(cls) -> list[type[BaseSettings]]:
        """Every settings class this configuration reads, for checks of compose's environment."""
        classes: list[type[BaseSettings]] = []
        for field in cls.model_fields.values():
            kind = field.annotation
            if isinstance(kind, type) and issubclass(kind, BaseSettings) and kind not in classes:
                classes.append(kind)
        return classes
