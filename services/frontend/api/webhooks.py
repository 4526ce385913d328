"""/api/webhooks...: a user's webhook endpoints, their signing secrets and delivery log, and
redelivery of one message.

Deliveries themselves are the webhooks service's work; this only registers, lists and asks for a
redelivery (a message on `webhooks.deliveries`). A URL is checked against server-side request
forgery here (422 with the reason) and again by the service at every delivery. Someone else's
endpoint is a 404, exactly like a missing one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field, field_validator

from services.frontend.api.deps import Context, CurrentUser
from services.frontend.api.schemas import Problem
from shared.events import WEBHOOK_DELIVERIES, WebhookDelivery
from shared.logs import current_correlation_id
from shared.webhooks.addresses import UrlRefused, checked_target
from shared.webhooks.messages import WebhookEvent
from shared.webhooks.settings import WebhookSettings
from shared.webhooks.store import TooManyEndpoints, WebhookStore
from shared.webhooks.tables import WebhookDeliveryRow, WebhookEndpointRow

router = APIRouter(tags=["webhooks"], responses={401: {"model": Problem}})

#: Attempts shown with one endpoint (API and profile page).
RECENT_DELIVERIES = 20


@dataclass(frozen=True)
class Webhooks:
    """What the routes need, opened once per process (`app.state.webhooks`)."""

    store: WebhookStore
    settings: WebhookSettings


def get_webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks = request.app.state.webhooks
    return webhooks


WebhooksDep = Annotated[Webhooks, Depends(get_webhooks)]


class EndpointIn(BaseModel):
    url: str = Field(min_length=1, max_length=2000, examples=["https://example.com/hooks/reencode"])
    events: list[WebhookEvent] = Field(min_length=1, max_length=len(WebhookEvent))

    @field_validator("events")
    @classmethod
    def _once_each(cls, events: list[WebhookEvent]) -> list[WebhookEvent]:
        return list(dict.fromkeys(events))


class EndpointOut(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: datetime

    @classmethod
    def from_row(cls, row: WebhookEndpointRow) -> EndpointOut:
        return cls(id=row.id, url=row.url, events=row.event_list, created_at=row.created_at)


class EndpointWithSecret(EndpointOut):
    """Answered on creation and rotation only: the secret to verify signatures with (`whsec_...`)."""

    secret: str

    @classmethod
    def from_row(cls, row: WebhookEndpointRow) -> EndpointWithSecret:
        return cls(
            id=row.id, url=row.url, events=row.event_list, created_at=row.created_at, secret=row.secret
        )


class DeliveryOut(BaseModel):
    """One attempt: what came back (or why nothing did) and how long it took."""

    id: str
    webhook_id: str
    event_type: str
    event_id: str
    attempt: int
    status_code: int | None
    latency_ms: float
    error: str | None
    succeeded: bool
    at: datetime

    @classmethod
    def from_row(cls, row: WebhookDeliveryRow) -> DeliveryOut:
        return cls(
            id=row.id,
            webhook_id=row.webhook_id,
            event_type=row.event_type,
            event_id=row.event_id,
            attempt=row.attempt,
            status_code=row.status_code,
            latency_ms=row.latency_ms,
            error=row.error,
            succeeded=row.succeeded,
            at=row.at,
        )


class EndpointDetail(EndpointOut):
    deliveries: list[DeliveryOut]


class EndpointList(BaseModel):
    endpoints: list[EndpointOut]
    limit: int


class RedeliveryAccepted(BaseModel):
    webhook_id: str
    attempt: int


async def owned_endpoint(endpoint_id: str, webhooks: WebhooksDep, user: CurrentUser) -> WebhookEndpointRow:
    row = await asyncio.to_thread(webhooks.store.owned, user.id, endpoint_id)
    if row is None:
        raise HTTPException(404, f"no webhook endpoint with id {endpoint_id!r}")
    return row


OwnedEndpoint = Annotated[WebhookEndpointRow, Depends(owned_endpoint)]


@router.post(
    "/api/webhooks",
    status_code=201,
    response_model=EndpointWithSecret,
    responses={409: {"model": Problem}, 422: {"model": Problem}},
    summary="Register an endpoint for some events; answers its signing secret",
)
async def create_endpoint(body: EndpointIn, webhooks: WebhooksDep, user: CurrentUser) -> EndpointWithSecret:
    try:
        await checked_target(body.url, webhooks.settings.allow_private_targets)
    except UrlRefused as refusal:
        raise HTTPException(422, f"this URL cannot receive webhooks: {refusal}") from None
    events = [event.value for event in body.events]
    try:
        row = await asyncio.to_thread(
            webhooks.store.create, user.id, body.url.strip(), events, webhooks.settings.max_endpoints_per_user
        )
    except TooManyEndpoints as refusal:
        raise HTTPException(409, f"{refusal}: delete one first") from None
    return EndpointWithSecret.from_row(row)


@router.get("/api/webhooks", response_model=EndpointList, summary="The caller's endpoints")
async def list_endpoints(webhooks: WebhooksDep, user: CurrentUser) -> EndpointList:
    rows = await asyncio.to_thread(webhooks.store.endpoints, user.id)
    return EndpointList(
        endpoints=[EndpointOut.from_row(row) for row in rows], limit=webhooks.settings.max_endpoints_per_user
    )


@router.get(
    "/api/webhooks/{endpoint_id}",
    response_model=EndpointDetail,
    responses={404: {"model": Problem}},
    summary="One endpoint with its most recent delivery attempts",
)
async def get_endpoint(endpoint: OwnedEndpoint, webhooks: WebhooksDep) -> EndpointDetail:
    deliveries = await asyncio.to_thread(webhooks.store.deliveries, endpoint.id, RECENT_DELIVERIES)
    return EndpointDetail(
        **EndpointOut.from_row(endpoint).model_dump(),
        deliveries=[DeliveryOut.from_row(d) for d in deliveries],
    )


@router.delete(
    "/api/webhooks/{endpoint_id}",
    status_code=204,
    responses={404: {"model": Problem}},
    summary="Remove an endpoint; nothing more is sent to it, retries included",
)
async def delete_endpoint(endpoint: OwnedEndpoint, webhooks: WebhooksDep, user: CurrentUser) -> Response:
    await asyncio.to_thread(webhooks.store.delete, user.id, endpoint.id)
    return Response(status_code=204)


@router.post(
    "/api/webhooks/{endpoint_id}/rotate-secret",
    response_model=EndpointWithSecret,
    responses={404: {"model": Problem}},
    summary="A new signing secret; every try from now on is signed with it",
)
async def rotate_secret(
    endpoint: OwnedEndpoint, webhooks: WebhooksDep, user: CurrentUser
) -> EndpointWithSecret:
    row = await asyncio.to_thread(webhooks.store.rotate_secret, user.id, endpoint.id)
    if row is None:  # deleted meanwhile
        raise HTTPException(404, f"no webhook endpoint with id {endpoint.id!r}")
    return EndpointWithSecret.from_row(row)


@router.post(
    "/api/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=RedeliveryAccepted,
    responses={404: {"model": Problem}, 503: {"model": Problem}},
    summary="Send a past message again (same body and webhook-id, signed anew)",
)
async def redeliver(
    endpoint: OwnedEndpoint, delivery_id: str, webhooks: WebhooksDep, user: CurrentUser, context: Context
) -> RedeliveryAccepted:
    store = webhooks.store
    past = await asyncio.to_thread(store.delivery, user.id, endpoint.id, delivery_id)
    if past is None:
        raise HTTPException(404, f"no delivery with id {delivery_id!r} at this endpoint")
    attempt = await asyncio.to_thread(store.last_attempt, endpoint.id, past.webhook_id) + 1
    message = WebhookDelivery(
        correlation_id=current_correlation_id() or past.webhook_id,
        endpoint_id=endpoint.id,
        webhook_id=past.webhook_id,
        event_type=past.event_type,
        source_event_id=past.event_id,
        body=past.body,
        attempt=attempt,
    )
    try:
        await context.producer.publish(WEBHOOK_DELIVERIES, message)
    except KafkaError:
        raise HTTPException(503, "the message could not be queued; try again", {"Retry-After": "5"}) from None
    return RedeliveryAccepted(webhook_id=past.webhook_id, attempt=attempt)


@dataclass(frozen=True)
class EndpointView:
    """One endpoint and its latest attempts, as the profile page shows them."""

    endpoint: EndpointOut
    deliveries: list[DeliveryOut]


async def profile_section(request: Request, owner_id: str) -> list[EndpointView]:
    """The profile page's webhooks section: every endpoint with its five latest attempts."""
    webhooks: Webhooks | None = getattr(request.app.state, "webhooks", None)
    if webhooks is None:
        return []

    def read() -> list[EndpointView]:
        return [
            EndpointView(
                EndpointOut.from_row(row),
                [DeliveryOut.from_row(d) for d in webhooks.store.deliveries(row.id, 5)],
            )
            for row in webhooks.store.endpoints(owner_id)
        ]

    return await asyncio.to_thread(read)
