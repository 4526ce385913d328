"""Webhook settings, read by the frontend (registration) and the webhooks service (delivery)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebhookSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEBHOOKS_")

    #: Send webhooks to loopback, private and link-local addresses. Off in production (compose):
    #: such URLs would let a user reach the site's internals. `make run` and the tests turn it on.
    allow_private_targets: bool = False
    #: Endpoints one user may register.
    max_endpoints_per_user: int = Field(default=10, ge=1)
    #: A receiver that has not answered within this is counted as failed (and retried).
    request_timeout_s: float = Field(default=10.0, gt=0)
    #: Requests in flight at once, over all endpoints (a slow receiver holds one, never the others).
    max_concurrent_requests: int = Field(default=32, ge=1)
    #: Messages one process holds at once (sending or waiting for a slot); past it, partitions pause.
    max_in_flight: int = Field(default=500, ge=1)
    #: Waits before the retries (`WEBHOOKS_RETRY_DELAYS_S=[10,60,600,3600]`), one per retry topic;
    #: after the last one fails, the message goes to dead-letters.
    retry_delays_s: tuple[float, ...] = (10.0, 60.0, 600.0, 3600.0)
