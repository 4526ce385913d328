"""Signing in with a hash made with weaker parameters rehashes the password off the event loop (Argon2
takes tens of milliseconds of CPU on purpose), as the verify already was."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from services.frontend.accounts import service
from services.frontend.accounts.account_store import AccountStore
from services.frontend.accounts.passwords import hash_password, needs_rehash
from services.frontend.accounts.schemas import Registration
from services.frontend.accounts.service import Accounts, AccountSettings
from shared.database import create_schema, make_engine
from shared.settings import DatabaseSettings

PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(database_url: str) -> Iterator[Accounts]:
    engine = make_engine(DatabaseSettings(url=database_url))
    create_schema(engine)
    yield Accounts(AccountStore(engine), AccountSettings())
    engine.dispose()


async def test_an_outdated_hash_is_rehashed_off_the_event_loop(
    accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await accounts.register(Registration(username="ada", email="ada@example.org", password=PASSWORD))
    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    accounts.store.set_password_hash(user.id, weak)
    assert needs_rehash(weak)

    hashed_on: list[threading.Thread] = []

    def recording_hash(password: str) -> str:
        hashed_on.append(threading.current_thread())
        return hash_password(password)

    monkeypatch.setattr(service, "hash_password", recording_hash)
    await accounts.sign_in("ada", PASSWORD, client="127.0.0.1", kind="api")

    assert hashed_on, "the outdated hash was not replaced"
    assert threading.current_thread() not in hashed_on, "Argon2 ran on the event loop's thread"
    renewed = accounts.store.by_username("ada")
    assert renewed is not None
    assert not needs_rehash(renewed.password_hash)
