"""Webhook endpoints and delivery attempts in the database (synchronous: call with asyncio.to_thread).

Every query of a user's endpoints names the owner, so someone else's endpoint reads as missing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from shared.database import JobRow
from shared.events import new_id
from shared.webhooks.messages import new_secret
from shared.webhooks.tables import WebhookDeliveryRow, WebhookEndpointRow


class TooManyEndpoints(Exception):
    """The owner already has as many endpoints as allowed."""


class WebhookStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _session(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    # --- endpoints, as their owner manages them ------------------------------------------------

    def create(self, owner_id: str, url: str, events: Sequence[str], limit: int) -> WebhookEndpointRow:
        with self._session() as session, session.begin():
            count = session.scalar(
                select(func.count())
                .select_from(WebhookEndpointRow)
                .where(WebhookEndpointRow.owner_id == owner_id)
            )
            if (count or 0) >= limit:
                raise TooManyEndpoints(f"at most {limit} webhook endpoints per user")
            row = WebhookEndpointRow(
                id=new_id(), owner_id=owner_id, url=url, events=" ".join(events), secret=new_secret()
            )
            session.add(row)
        return row

    def endpoints(self, owner_id: str) -> list[WebhookEndpointRow]:
        with self._session() as session:
            query = (
                select(WebhookEndpointRow)
                .where(WebhookEndpointRow.owner_id == owner_id)
                .order_by(WebhookEndpointRow.created_at)
            )
            return list(session.scalars(query))

    def owned(self, owner_id: str, endpoint_id: str) -> WebhookEndpointRow | None:
        with self._session() as session:
            row = session.get(WebhookEndpointRow, endpoint_id)
            return row if row is not None and row.owner_id == owner_id else None

    def delete(self, owner_id: str, endpoint_id: str) -> bool:
        with self._session() as session, session.begin():
            removed = session.execute(
                delete(WebhookEndpointRow).where(
                    WebhookEndpointRow.id == endpoint_id, WebhookEndpointRow.owner_id == owner_id
                )
            )
            # The attempts go with it (PostgreSQL cascades; SQLite does too, with foreign keys on).
            session.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.endpoint_id == endpoint_id))
            return bool(getattr(removed, "rowcount", 0))

    def rotate_secret(self, owner_id: str, endpoint_id: str) -> WebhookEndpointRow | None:
        with self._session() as session, session.begin():
            row = session.get(WebhookEndpointRow, endpoint_id)
            if row is None or row.owner_id != owner_id:
                return None
            row.secret = new_secret()
        return row

    # --- what the delivery service reads and writes -------------------------------------------

    def endpoint(self, endpoint_id: str) -> WebhookEndpointRow | None:
        with self._session() as session:
            return session.get(WebhookEndpointRow, endpoint_id)

    def subscribed(self, owner_id: str, event_type: str) -> list[WebhookEndpointRow]:
        return [row for row in self.endpoints(owner_id) if event_type in row.event_list]

    def job_owner(self, job_id: str) -> str | None:
        with self._session() as session:
            return session.scalar(select(JobRow.owner_id).where(JobRow.id == job_id))

    def record(self, attempt: WebhookDeliveryRow) -> None:
        """Keep one attempt; an attempt of an endpoint deleted meanwhile is dropped with it."""
        with self._session() as session, session.begin():
            if session.get(WebhookEndpointRow, attempt.endpoint_id) is not None:
                session.add(attempt)

    # --- the delivery log ---------------------------------------------------------------------

    def deliveries(self, endpoint_id: str, limit: int = 20) -> list[WebhookDeliveryRow]:
        with self._session() as session:
            query = (
                select(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.endpoint_id == endpoint_id)
                .order_by(WebhookDeliveryRow.at.desc(), WebhookDeliveryRow.attempt.desc())
                .limit(limit)
            )
            return list(session.scalars(query))

    def delivery(self, owner_id: str, endpoint_id: str, delivery_id: str) -> WebhookDeliveryRow | None:
        if self.owned(owner_id, endpoint_id) is None:
            return None
        with self._session() as session:
            row = session.get(WebhookDeliveryRow, delivery_id)
            return row if row is not None and row.endpoint_id == endpoint_id else None

    def last_attempt(self, endpoint_id: str, webhook_id: str) -> int:
        with self._session() as session:
            found = session.scalar(
                select(func.max(WebhookDeliveryRow.attempt)).where(
                    WebhookDeliveryRow.endpoint_id == endpoint_id, WebhookDeliveryRow.webhook_id == webhook_id
                )
            )
            return int(found or 0)
