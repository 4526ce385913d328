"""Registering and signing in, shared by the JSON API and the HTML forms, and what one caller may
spend of the site (`AccountSettings`: sign-ups, logins, uploads, stored bytes, retries, clicks)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.frontend.accounts.account_store import AccountStore, AccountTaken, IssuedSession
from services.frontend.accounts.limits import BoundedNames, HashSlots, InFlight, SlidingWindow, TooMany
from services.frontend.accounts.passwords import (
    DUMMY_HASH,
    check_strength,
    hash_password,
    needs_rehash,
    verify_password,
)
from services.frontend.accounts.rate_limit import LoginThrottle, LoginThrottled
from services.frontend.accounts.schemas import Registration
from shared.database import UserRow

__all__ = ["AccountSettings", "Accounts", "LoginRefused", "LoginThrottled", "RegistrationThrottled"]

GIB = 1024**3


class AccountSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTEND_")

    session_ttl_s: int = Field(12 * 3600, ge=60)
    token_ttl_s: int = Field(24 * 3600, ge=60)
    #: Mark cookies Secure even on plain HTTP requests (behind a TLS-terminating proxy that does not
    #: send X-Forwarded-Proto). Requests that arrive over HTTPS always get Secure cookies.
    secure_cookies: bool = False
    login_failures_per_username: int = 5
    login_failures_per_client: int = 20
    login_window_s: int = 15 * 60
    #: Sign-ups one client address may make per window (each costs an Argon2 hash), per frontend.
    registrations_per_client: int = Field(20, ge=1)
    registration_window_s: int = Field(3600, ge=1)
    #: Argon2 hashes (about 64 MiB each) computed at once by one frontend; more wait their turn.
    password_hashes_at_once: int = Field(2, ge=1)
    #: Uploads one user may be sending to one frontend at the same time (429 beyond).
    uploads_in_flight_per_user: int = Field(3, ge=1)
    #: Bytes of originals one user may keep stored, counting failed jobs (413 beyond).
    stored_bytes_per_user: int = Field(20 * GIB, ge=1)
    #: Times a failed job may be retried; a retry's own retries count on from its parent's.
    retries_per_job: int = Field(3, ge=0)
    #: Tracked-link clicks one user may report per minute, and distinct links a frontend passes on
    #: (later new links are counted as "(other)").
    clicks_per_minute_per_user: int = Field(60, ge=1)
    tracked_links: int = Field(1000, ge=1)
    #: Playback beacons one viewer (signed-in user, else client address) may send per minute.
    playback_beacons_per_minute: int = Field(30, ge=1)


class LoginRefused(Exception):
    """Wrong username or password; deliberately does not say which."""


class RegistrationThrottled(TooMany):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"too many sign-ups from your address; try again in {retry_after_s} s", retry_after_s
        )


@dataclass(frozen=True)
class CallerLimits:
    """This process's in-memory limits on what one caller spends (see accounts/limits.py)."""

    registrations: SlidingWindow
    clicks: SlidingWindow
    playback: SlidingWindow
    links: BoundedNames
    uploads: InFlight
    hashing: HashSlots

    @classmethod
    def from_settings(cls, settings: AccountSettings) -> CallerLimits:
        return cls(
            registrations=SlidingWindow(settings.registrations_per_client, settings.registration_window_s),
            clicks=SlidingWindow(settings.clicks_per_minute_per_user, 60),
            playback=SlidingWindow(settings.playback_beacons_per_minute, 60),
            links=BoundedNames(settings.tracked_links),
            uploads=InFlight(settings.uploads_in_flight_per_user),
            hashing=HashSlots(settings.password_hashes_at_once),
        )


@dataclass(frozen=True)
class Accounts:
    store: AccountStore
    settings: AccountSettings
    limits: CallerLimits = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "limits", CallerLimits.from_settings(self.settings))

    @property
    def throttle(self) -> LoginThrottle:
        return LoginThrottle(
            self.store,
            window=timedelta(seconds=self.settings.login_window_s),
            per_username=self.settings.login_failures_per_username,
            per_client=self.settings.login_failures_per_client,
        )

    async def register(self, registration: Registration, client: str = "unknown") -> UserRow:
        """Raises `WeakPassword`, `AccountTaken` or `RegistrationThrottled` with a message fit for
        the user. Only a sign-up that passes every cheap check costs a hash, and counts."""
        check_strength(registration.password, registration.username, registration.email)
        if await asyncio.to_thread(self.store.username_taken, registration.username):
            raise AccountTaken("username")
        wait_s = self.limits.registrations.take(client)
        if wait_s:
            raise RegistrationThrottled(wait_s)
        # Argon2 takes tens of milliseconds of CPU and ~64 MiB on purpose: off the event loop, and
        # only so many at once.
        async with self.limits.hashing.held():
            password_hash = await asyncio.to_thread(hash_password, registration.password)
        return await asyncio.to_thread(
            self.store.register, registration.username, registration.email, password_hash
        )

    async def sign_in(
        self, username: str, password: str, client: str, kind: str
    ) -> tuple[UserRow, IssuedSession]:
        username = username.strip().lower()[:64]
        throttle = self.throttle
        # Recorded before verifying: parallel guesses cannot all slip under the limit.
        attempt_id = await asyncio.to_thread(throttle.begin, username, client)
        user = await asyncio.to_thread(self.store.by_username, username)
        async with self.limits.hashing.held():
            valid = await asyncio.to_thread(
                verify_password, user.password_hash if user else DUMMY_HASH, password[:1024]
            )
        await asyncio.to_thread(throttle.finish, attempt_id, valid and user is not None)
        if user is None or not valid:
            raise LoginRefused("wrong username or password")
        if needs_rehash(user.password_hash):
            # Argon2 on purpose takes tens of milliseconds of CPU: off the event loop, as the verify.
            async with self.limits.hashing.held():
                rehashed = await asyncio.to_thread(hash_password, password)
            await asyncio.to_thread(self.store.set_password_hash, user.id, rehashed)
        return user, await self.open_session(user, kind)

    async def open_session(self, user: UserRow, kind: str) -> IssuedSession:
        """A new browser session or API token for `user` (who just proved who they are)."""
        ttl = self.settings.session_ttl_s if kind == "browser" else self.settings.token_ttl_s
        return await asyncio.to_thread(self.store.open_session, user.id, kind, timedelta(seconds=ttl))
