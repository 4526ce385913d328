"""Share links in the database: made and revoked by a job's owner, read on every anonymous request.

A link's secret token is shown once, when it is made; only its SHA-256 is stored (like sessions), so
neither the database nor a log of it can open a link. Revoking deletes the row: the next request
through the link reads no row and answers 404.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import ColumnElement, Engine, delete, func, or_, select
from sqlalchemy.orm import selectinload, sessionmaker

from shared.database import JobRow, ShareLinkRow
from shared.events import new_id, utc_now


class ShareSettings(BaseSettings):
    """Bounds on share links (SHARES_*)."""

    model_config = SettingsConfigDict(env_prefix="SHARES_")

    default_expiry_s: int = Field(default=7 * 24 * 3600, ge=1)
    #: The longest a link may live.
    max_expiry_s: int = Field(default=30 * 24 * 3600, ge=1)
    #: Links an upload may have at once (expired ones count until they are cleared, a day later).
    max_links_per_job: int = Field(default=20, ge=1)


class TooManyLinks(Exception):
    """The upload already has as many links as it may."""


@dataclass(frozen=True)
class IssuedLink:
    """A new link: `token` is shown once."""

    link: ShareLinkRow
    token: str


@dataclass(frozen=True)
class SharedJob:
    """What a valid token opens: the job (with its renditions) and until when."""

    job: JobRow
    expires_at: datetime


def share_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


#: Expired links stay listed (as expired) this long, then are cleared.
_KEEP_EXPIRED = timedelta(days=1)


class ShareStore:
    def __init__(self, engine: Engine, settings: ShareSettings) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.settings = settings

    def create(self, job_id: str, owner_id: str, expires_in_s: int) -> IssuedLink:
        """A new link to `job_id` (already checked to be `owner_id`'s); `TooManyLinks` past the bound."""
        now = utc_now()
        token = secrets.token_urlsafe(24)
        link = ShareLinkRow(
            id=new_id(),
            token_hash=share_token_hash(token),
            job_id=job_id,
            owner_id=owner_id,
            created_at=now,
            expires_at=now + timedelta(seconds=expires_in_s),
        )
        with self._sessions() as session:
            session.execute(
                delete(ShareLinkRow).where(
                    ShareLinkRow.owner_id == owner_id, ShareLinkRow.expires_at < now - _KEEP_EXPIRED
                )
            )
            count = session.scalar(select(func.count()).where(ShareLinkRow.job_id == job_id)) or 0
            if count >= self.settings.max_links_per_job:
                session.commit()
                raise TooManyLinks(f"this upload has {count} links already; revoke one first")
            session.add(link)
            session.commit()
        return IssuedLink(link, token)

    def of_job(self, job_id: str, owner_id: str) -> list[tuple[ShareLinkRow, str]]:
        """The job's links, newest first, each with the upload's file name."""
        return self._list(ShareLinkRow.job_id == job_id, ShareLinkRow.owner_id == owner_id)

    def of_owner(self, owner_id: str) -> list[tuple[ShareLinkRow, str]]:
        """All the owner's links, newest first, each with its upload's file name."""
        return self._list(ShareLinkRow.owner_id == owner_id)

    def _list(self, *conditions: ColumnElement[bool]) -> list[tuple[ShareLinkRow, str]]:
        query = (
            select(ShareLinkRow, JobRow.filename)
            .join(JobRow, JobRow.id == ShareLinkRow.job_id)
            .where(*conditions)
            .order_by(ShareLinkRow.created_at.desc())
        )
        with self._sessions() as session:
            return [(link, filename) for link, filename in session.execute(query)]

    def revoke(self, owner_id: str, link: str) -> bool:
        """Delete the owner's link named by its id or its token; whether there was one."""
        with self._sessions() as session:
            result = session.execute(
                delete(ShareLinkRow).where(
                    ShareLinkRow.owner_id == owner_id,
                    or_(ShareLinkRow.id == link, ShareLinkRow.token_hash == share_token_hash(link)),
                )
            )
            session.commit()
            return bool(getattr(result, "rowcount", 0))

    def open(self, token: str) -> SharedJob | None:
        """The job a token opens, if its link exists and has not expired (read on every request)."""
        query = (
            select(ShareLinkRow, JobRow)
            .join(JobRow, JobRow.id == ShareLinkRow.job_id)
            .where(ShareLinkRow.token_hash == share_token_hash(token))
            .options(selectinload(JobRow.renditions))
        )
        with self._sessions() as session:
            found = session.execute(query).first()
        if found is None:
            return None
        link, job = found
        expires_at = aware(link.expires_at)
        if expires_at <= utc_now():
            return None
        return SharedJob(job, expires_at)
