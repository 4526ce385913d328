"""The relational schema and engine: SQLite for local runs, PostgreSQL when DATABASE_URL says so.

SQLAlchemy's engine is synchronous; async callers run queries with `asyncio.to_thread`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    create_engine,
    event,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.events import utc_now
from shared.settings import DatabaseSettings


class UtcDateTime(TypeDecorator[datetime]):
    """A moment stored in UTC and always read back timezone-aware: SQLite keeps no zone, so its
    values would come back naive and be written into the API as times of no particular place."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a naive datetime ({value}) has no place in the database: use utc_now()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class UserRow(Base):
    """A registered account. Usernames are stored lower-case, so uniqueness ignores case."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    #: May see every user's activity and every service's log (monitoring). Granted only with
    #: `reencode users grant-operator NAME`, never by registering a name.
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SessionRow(Base):
    """A browser session or an API bearer token; only a hash of the secret is stored."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: "browser" (cookie, CSRF-checked) or "api" (bearer token).
    kind: Mapped[str] = mapped_column(String(16))
    #: The browser session's CSRF token, compared with the one each form or script sends back.
    csrf_token: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class LoginAttemptRow(Base):
    """A failed login, kept for a while to rate-limit guessing across every frontend instance."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(255), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, index=True)


class JobRow(Base):
    """One upload and the state of its re-encoding job."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The uploader; null only for jobs created before accounts existed.
    owner_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, default=None
    )
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    #: 64-bit: a video may be up to 8 GiB, past a 32-bit integer.
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    source_key: Mapped[str] = mapped_column(String(255))
    correlation_id: Mapped[str] = mapped_column(String(64))
    worker_id: Mapped[str | None] = mapped_column(String(255), default=None)
    #: How many times the job was requested of the workers: 1, plus one per re-queue of a stuck job.
    attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: Retries of a failed job so far; a retry's new job starts from its parent's count, so a
    #: lineage of retries (each a copy of the original) stays bounded.
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The S3 multipart upload of a direct upload whose bytes are still on their way (status
    #: `uploading`); None once it is completed or aborted, and for uploads through the frontend.
    upload_id: Mapped[str | None] = mapped_column(String(1024), default=None)
    #: Videos: when the HLS package first became playable (while the job still ran); None before.
    playable_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, index=True)
    #: Last change of status or progress (or re-queue): how the sweeper tells a stuck job.
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)

    renditions: Mapped[list[RenditionRow]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="RenditionRow.width"
    )


class RenditionRow(Base):
    """One output file of a finished job."""

    __tablename__ = "renditions"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(100))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(255))

    job: Mapped[JobRow] = relationship(back_populates="renditions")


class ShareLinkRow(Base):
    """An owner's link to one upload that works without an account, until it expires or is revoked.

    Only the SHA-256 of the link's secret token is stored; the token itself is shown once, when
    the link is made. Revoking deletes the row, and every request through the link reads it.
    """

    __tablename__ = "share_links"

    #: Names the link in lists and revocations; not a secret.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OutboxRow(Base):
    """An event committed in the same transaction as the change it announces, until it is published.

    The relay (services/frontend/outbox.py) publishes pending records and stamps `sent_at`; a
    process that dies between the commit and the publish loses nothing, the next relay sends it.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: The catalogue topic's name, and the record's key as the topic computes it.
    topic: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    #: The event, serialized as the topic's model writes it.
    payload: Mapped[str] = mapped_column(Text)
    #: The job the event is about, when it is about one.
    job_id: Mapped[str | None] = mapped_column(String(32), index=True, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    #: Failed publishes so far, and the last one's error.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    #: A relay's claim: the token of its batch, and until when the others leave the record alone.
    claimed_by: Mapped[str | None] = mapped_column(String(32), default=None)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None)
    #: When Kafka acknowledged it; NULL while pending.
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=None, index=True)


def make_engine(settings: DatabaseSettings) -> Engine:
    """An engine tuned for the backend the URL names."""
    url = settings.url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_size=settings.pool_size,
        max_overflow=settings.pool_size,
        pool_timeout=settings.pool_timeout_s,
        # A connection the server or a proxy dropped is noticed and replaced before use.
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "connect_timeout": settings.connect_timeout_s,
            "options": f"-c statement_timeout={settings.statement_timeout_ms}",
            "application_name": "reencode",
        },
    )


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets the page read while the status recorder writes; foreign keys are off by default.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent, safe for concurrent starts)."""
    # Imported here: Alembic is needed only by the processes that own the schema.
    from shared.migrations import upgrade_to_head

    upgrade_to_head(engine)


# Tables kept beside their feature join the same metadata, which the migrations are checked against.
from shared.webhooks import tables as _webhook_tables  # noqa: E402, F401
