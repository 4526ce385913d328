"""Webhooks service: tells users' registered endpoints when their jobs end or their media is deleted.

Consumes:  `jobs.status` (done and failed only) and `media.deleted`: one message per subscribed
           endpoint of the owner goes to `webhooks.deliveries`; that topic and the four retry topics
           `webhooks.retry.1..4` are read by one concurrent consumer (due_consumer.py) that sends each
           message when due, signed per Standard Webhooks, and records every attempt.
Produces:  `webhooks.deliveries`, `webhooks.retry.*`; `dead-letters` after the last retry.
HTTP:      none (a worker: /metrics and /healthz on TELEMETRY_METRICS_PORT when set).
Settings:  WebhooksConfig: Kafka, database, WEBHOOKS_* (timeouts, concurrency, retry delays, and
           whether private addresses may be called).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial

from pydantic import Field

from services.webhooks.deliverer import Deliverer
from services.webhooks.due_consumer import DueConsumer
from services.webhooks.fanout import FanOut
from services.webhooks.retries import RetrySchedule
from services.webhooks.sender import WebhookSender
from shared.database import create_schema, make_engine
from shared.events import JOBS_STATUS, MEDIA_DELETED, WEBHOOK_DELIVERIES, WEBHOOK_RETRIES
from shared.frame import Consumes, Runtime, ServiceConfig, ServiceDeclaration, Wiring, run_service
from shared.settings import DatabaseSettings
from shared.webhooks.settings import WebhookSettings
from shared.webhooks.store import WebhookStore

JOB_ENDS = Consumes(JOBS_STATUS, group="webhooks")
DELETIONS = Consumes(MEDIA_DELETED, group="webhooks.media-deleted")
SENDING_GROUP = "webhooks.sending"
SENDING = tuple(
    Consumes(topic, group=SENDING_GROUP, batch=True) for topic in (WEBHOOK_DELIVERIES, *WEBHOOK_RETRIES)
)

WEBHOOKS = ServiceDeclaration(
    name="webhooks",
    summary="Signed webhooks to users' endpoints when jobs end or media is deleted, retried with delays.",
    consumes=(JOB_ENDS, DELETIONS, *SENDING),
    produces=(WEBHOOK_DELIVERIES, *WEBHOOK_RETRIES),
)


class WebhooksConfig(ServiceConfig):
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)


@contextlib.asynccontextmanager
async def setup(config: WebhooksConfig, runtime: Runtime) -> AsyncIterator[Wiring]:
    settings = config.webhooks
    engine = make_engine(config.database)
    sender = WebhookSender(settings)
    try:
        await asyncio.to_thread(create_schema, engine)
        store = WebhookStore(engine)
        deliverer = Deliverer(
            store, sender, runtime.producer, RetrySchedule(settings.retry_delays_s), SENDING_GROUP
        )
        sending = DueConsumer(
            [entry.topic for entry in SENDING],
            group_id=SENDING_GROUP,
            settings=config.kafka,
            client_id=runtime.identity.instance_id,
            handle=deliverer,
            give_up=deliverer.give_up,
            max_in_flight=settings.max_in_flight,
            # Long enough for the requests in hand to end by their own timeout.
            shutdown_grace_s=settings.request_timeout_s + 1,
        )
        fanout = FanOut(store, runtime.producer)
        yield Wiring(
            bindings=[JOB_ENDS.handled_by(fanout.job_status), DELETIONS.handled_by(fanout.media_deleted)],
            workers=[sending],
        )
    finally:
        await sender.aclose()
        engine.dispose()


def main() -> None:
    config = WebhooksConfig()
    run_service(WEBHOOKS, config, partial(setup, config))
