"""Every service of the site, by name: its declaration and its configuration class.

The README's service table, the compose checks and the docs are checked against this list, so a
service added to the site is added here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.dblogs.main import DBLOGS, DblogsConfig
from services.frontend.main import FRONTEND, FrontendConfig
from services.metrics.main import METRICS, MetricsConfig
from services.monitoring.main import MONITORING, MonitoringConfig
from services.reencoder.main import REENCODER, ReencoderConfig
from services.webhooks.main import WEBHOOKS, WebhooksConfig
from shared.frame import ServiceConfig, ServiceDeclaration


@dataclass(frozen=True)
class Deployed:
    declaration: ServiceDeclaration
    config: type[ServiceConfig]

    @property
    def module(self) -> str:
        """What `python -m` runs (compose's command, the local stack's process)."""
        return f"services.{self.declaration.name}"


SERVICES: tuple[Deployed, ...] = (
    Deployed(FRONTEND, FrontendConfig),
    Deployed(REENCODER, ReencoderConfig),
    Deployed(METRICS, MetricsConfig),
    Deployed(DBLOGS, DblogsConfig),
    Deployed(MONITORING, MonitoringConfig),
    Deployed(WEBHOOKS, WebhooksConfig),
)
