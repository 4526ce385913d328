"""Registering and signing in, shared by the JSON API and the HTML forms."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.frontend.accounts.account_store import AccountStore, IssuedSession
from services.frontend.accounts.passwords import (
    DUMMY_HASH,
    check_strength,
    hash_password,
    needs_rehash,
    verify_password,
)
from services.frontend.accounts.rate_limit import LoginThrottle
from services.frontend.accounts.schemas import Registration
from shared.database import UserRow


class AccountSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTEND_")

    session_ttl_s: int = Field(12 * 3600, ge=60)
    token_ttl_s: int = Field(24 * 3600, ge=60)
    #: Mark cookies Secure even on plain HTTP requests (behind a TLS-terminating proxy that does not
    #: send X-Forwarded-Proto). Requests that arrive over HTTPS always get Secure cookies.
    secure_cookies: bool = False
    #: Usernames allowed to see monitoring (logs, activity) at the site's address, comma-separated.
    #: Unset, every signed-in user may (the local demo); compose sets it.
    operators: str | None = None
    login_failures_per_username: int = 5
    login_failures_per_client: int = 20
    login_window_s: int = 15 * 60

    def is_operator(self, username: str) -> bool:
        if self.operators is None:
            return True
        return username in {name.strip().lower() for name in self.operators.split(",")}


class LoginRefused(Exception):
    """Wrong username or password; deliberately does not say which."""


class LoginThrottled(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Accounts:
    store: AccountStore
    settings: AccountSettings

    @property
    def throttle(self) -> LoginThrottle:
        return LoginThrottle(
            self.store,
            window=timedelta(seconds=self.settings.login_window_s),
            per_username=self.settings.login_failures_per_username,
            per_client=self.settings.login_failures_per_client,
        )

    async def register(self, registration: Registration) -> UserRow:
        """Raises `WeakPassword` or `AccountTaken` with a message fit for the user."""
        check_strength(registration.password, registration.username, registration.email)
        # Argon2 takes tens of milliseconds of CPU on purpose: off the event loop.
        password_hash = await asyncio.to_thread(hash_password, registration.password)
        return await asyncio.to_thread(
            self.store.register, registration.username, registration.email, password_hash
        )

    async def sign_in(
        self, username: str, password: str, client: str, kind: str
    ) -> tuple[UserRow, IssuedSession]:
        username = username.strip().lower()[:64]
        throttle = self.throttle
        wait_s = await asyncio.to_thread(throttle.retry_after_s, username, client)
        if wait_s:
            raise LoginThrottled(wait_s)
        user = await asyncio.to_thread(self.store.by_username, username)
        valid = await asyncio.to_thread(
            verify_password, user.password_hash if user else DUMMY_HASH, password[:1024]
        )
        await asyncio.to_thread(throttle.record, username, client, valid and user is not None)
        if user is None or not valid:
            raise LoginRefused("wrong username or password")
        if needs_rehash(user.password_hash):
            # Argon2 on purpose takes tens of milliseconds of CPU: off the event loop, as the verify.
            rehashed = await asyncio.to_thread(hash_password, password)
            await asyncio.to_thread(self.store.set_password_hash, user.id, rehashed)
        ttl = self.settings.session_ttl_s if kind == "browser" else self.settings.token_ttl_s
        issued = await asyncio.to_thread(self.store.open_session, user.id, kind, timedelta(seconds=ttl))
        return user, issued
