"""Users (and their operator role), sessions and login attempts in the relational database."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from shared.database import JobRow, LoginAttemptRow, SessionRow, UserRow
from shared.events import new_id, utc_now


class AccountTaken(ValueError):
    """Username or email already registered; `field` says which."""

    def __init__(self, field: str) -> None:
        super().__init__(f"this {field} is already registered")
        self.field = field


@dataclass(frozen=True)
class IssuedSession:
    """A new session or token. `token` is shown once; only its hash is stored."""

    token: str
    csrf_token: str | None
    expires_at: datetime


@dataclass(frozen=True)
class UserStats:
    uploads: int
    bytes: int


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class AccountStore:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    # -- users ---------------------------------------------------------------------------------

    def register(self, username: str, email: str, password_hash: str) -> UserRow:
        """Create a user; `AccountTaken` when the name or address is in use (also under races)."""
        user = UserRow(id=new_id(), username=username, email=email, password_hash=password_hash)
        with self._sessions() as session:
            if session.scalar(select(UserRow.id).where(UserRow.username == username)):
                raise AccountTaken("username")
            if session.scalar(select(UserRow.id).where(UserRow.email == email)):
                raise AccountTaken("email")
            session.add(user)
            try:
                session.commit()
            except IntegrityError:
                # Two registrations raced past the checks above; the unique index decided.
                session.rollback()
                taken = session.scalar(select(UserRow.id).where(UserRow.username == username))
                raise AccountTaken("username" if taken else "email") from None
        return user

    def by_username(self, username: str) -> UserRow | None:
        with self._sessions() as session:
            return session.scalar(select(UserRow).where(UserRow.username == username))

    def username_taken(self, username: str) -> bool:
        with self._sessions() as session:
            return session.scalar(select(UserRow.id).where(UserRow.username == username)) is not None

    def set_operator(self, username: str, operator: bool) -> bool:
        """Grant or revoke the operator role; False when there is no such user."""
        with self._sessions.begin() as session:
            user = session.scalar(select(UserRow).where(UserRow.username == username.strip().lower()))
            if user is None:
                return False
            user.is_operator = operator
        return True

    def operators(self) -> list[str]:
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(UserRow.username).where(UserRow.is_operator).order_by(UserRow.username)
                )
            )

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        with self._sessions.begin() as session:
            user = session.get(UserRow, user_id)
            if user is not None:
                user.password_hash = password_hash

    def stats(self, user_id: str) -> UserStats:
        with self._sessions() as session:
            count, total = session.execute(
                select(func.count(JobRow.id), func.coalesce(func.sum(JobRow.size_bytes), 0)).where(
                    JobRow.owner_id == user_id
                )
            ).one()
        return UserStats(uploads=int(count), bytes=int(total))

    # -- sessions and tokens -------------------------------------------------------------------

    def open_session(self, user_id: str, kind: str, ttl: timedelta) -> IssuedSession:
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32) if kind == "browser" else None
        now = utc_now()
        with self._sessions.begin() as session:
            session.add(
                SessionRow(
                    token_hash=token_hash(token),
                    user_id=user_id,
                    kind=kind,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
            user = session.get(UserRow, user_id)
            if user is not None:
                user.last_login_at = now
            # Housekeeping while we are here: expired sessions are useless.
            session.execute(delete(SessionRow).where(SessionRow.expires_at < now))
        return IssuedSession(token, csrf, now + ttl)

    def resolve(self, token: str, kind: str) -> tuple[UserRow, SessionRow] | None:
        """The user and session behind a token, unless it is unknown, of another kind or expired."""
        with self._sessions() as session:
            row = session.get(SessionRow, token_hash(token))
            if row is None or row.kind != kind or _aware(row.expires_at) <= utc_now():
                return None
            user = session.get(UserRow, row.user_id)
            return (user, row) if user is not None else None

    def close_session(self, token: str) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(SessionRow).where(SessionRow.token_hash == token_hash(token)))

    # -- login attempts ------------------------------------------------------------------------

    def begin_login(self, username: str, client: str) -> int:
        """Record an attempt as failed before its password is verified; returns its id.

        Committed before anyone counts, so parallel guesses see each other: of any number of them,
        only as many as the limit allows find themselves under it (`finish_login` marks success).
        """
        attempt = LoginAttemptRow(username=username[:255], client=client[:64], succeeded=False, at=utc_now())
        with self._sessions.begin() as session:
            session.add(attempt)
            session.flush()
            return attempt.id

    def finish_login(self, attempt_id: int, succeeded: bool) -> None:
        if succeeded:
            with self._sessions.begin() as session:
                session.execute(
                    update(LoginAttemptRow).where(LoginAttemptRow.id == attempt_id).values(succeeded=True)
                )

    def drop_login(self, attempt_id: int) -> None:
        """Forget an attempt that was refused unverified (throttled): it guessed nothing."""
        with self._sessions.begin() as session:
            session.execute(delete(LoginAttemptRow).where(LoginAttemptRow.id == attempt_id))

    def failures_since(
        self, since: datetime, *, username: str | None = None, client: str | None = None
    ) -> list[datetime]:
        """Times of failed logins after `since` (and after the last success, for a username)."""
        with self._sessions() as session:
            query = select(LoginAttemptRow.at).where(LoginAttemptRow.at >= since, ~LoginAttemptRow.succeeded)
            if username is not None:
                last_success = session.scalar(
                    select(func.max(LoginAttemptRow.at)).where(
                        LoginAttemptRow.username == username, LoginAttemptRow.succeeded
                    )
                )
                query = query.where(LoginAttemptRow.username == username)
                if last_success is not None:
                    query = query.where(LoginAttemptRow.at > last_success)
            if client is not None:
                query = query.where(LoginAttemptRow.client == client)
            return sorted(_aware(at) for at in session.scalars(query))

    def forget_attempts_before(self, moment: datetime) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(LoginAttemptRow).where(LoginAttemptRow.at < moment))
