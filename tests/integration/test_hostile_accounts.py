"""Hostile clients against accounts, on both databases: parallel password guesses stay within the
throttle, sign-ups are throttled per address, the operator role cannot be claimed by registering a
name (only `reencode users grant-operator` gives it), and a throttled client's sign-up still works."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from infra.ops.users import users_app
from services.frontend.accounts import api, pages
from services.frontend.accounts.account_store import AccountStore
from services.frontend.accounts.service import Accounts, AccountSettings
from services.frontend.api import monitoring
from services.frontend.context import Backends
from shared.database import create_schema, make_engine
from shared.settings import DatabaseSettings

PASSWORD = "correct horse battery"


def make_client(database_url: str, **settings: int) -> Iterator[TestClient]:
    engine = make_engine(DatabaseSettings(url=database_url))
    create_schema(engine)
    app = FastAPI()
    app.state.accounts = Accounts(AccountStore(engine), AccountSettings(**settings))  # type: ignore[arg-type]
    for router in (api.router, pages.router, monitoring.router):
        app.include_router(router)
    with TestClient(app) as http:
        yield http
    engine.dispose()


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    yield from make_client(
        database_url, login_failures_per_username=3, registrations_per_client=4, login_failures_per_client=50
    )


def register(client: TestClient, username: str) -> int:
    body = {"username": username, "email": f"{username}@example.org", "password": PASSWORD}
    return int(client.post("/api/auth/register", json=body).status_code)


def test_parallel_guesses_for_one_name_are_bounded_by_the_throttle(client: TestClient) -> None:
    assert register(client, "ada") == 201

    def guess(index: int) -> int:
        response = client.post(
            "/api/auth/token", data={"username": "ada", "password": f"guess number {index}"}
        )
        return int(response.status_code)

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(guess, range(40)))
    # Each 401 is a password that was verified; the rest were refused before verifying.
    assert set(statuses) <= {401, 429}
    assert 1 <= statuses.count(401) <= 3, statuses


def test_sign_ups_from_one_address_are_throttled(client: TestClient) -> None:
    assert [register(client, f"user{index}") for index in range(4)] == [201] * 4
    refused = client.post(
        "/api/auth/register", json={"username": "user9", "email": "user9@example.org", "password": PASSWORD}
    )
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "sign-ups" in refused.json()["detail"]
    client.get("/register")
    form = client.post(
        "/register",
        data={
            "username": "user10",
            "email": "user10@example.org",
            "password": PASSWORD,
            "csrf_token": str(client.cookies.get(pages.FORM_CSRF_COOKIE)),
        },
    )
    assert form.status_code == 429
    assert "sign-ups" in form.text


def test_a_client_throttled_for_logins_still_signs_up_in_the_browser(database_url: str) -> None:
    for client in make_client(database_url, login_failures_per_client=2):
        for name in ("nobody1", "nobody2"):
            assert (
                client.post("/api/auth/token", data={"username": name, "password": "wrong"}).status_code
                == 401
            )
        assert client.post("/api/auth/token", data={"username": "x", "password": "y"}).status_code == 429
        client.get("/register")
        signed_up = client.post(
            "/register",
            data={
                "username": "newcomer",
                "email": "newcomer@example.org",
                "password": PASSWORD,
                "csrf_token": str(client.cookies.get(pages.FORM_CSRF_COOKIE)),
            },
            follow_redirects=False,
        )
        assert signed_up.status_code == 303, signed_up.text
        assert client.get("/api/auth/me").json()["user"]["username"] == "newcomer"


def test_registering_a_name_never_makes_an_operator(
    client: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FRONTEND_OPERATORS", raising=False)
    assert register(client, "admin") == 201
    token = client.post("/api/auth/token", data={"username": "admin", "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    refused = client.get("/api/monitoring/status", headers=headers)
    assert refused.status_code == 403
    assert "grant-operator" in refused.json()["detail"]

    runner = CliRunner()
    granted = runner.invoke(users_app, ["grant-operator", "ADMIN", "--database-url", database_url])
    assert granted.exit_code == 0, granted.output
    assert "admin" in runner.invoke(users_app, ["operators", "--database-url", database_url]).output
    client.app.state.context = SimpleNamespace(  # type: ignore[attr-defined]
        backends=Backends("http://127.0.0.1:9", "http://127.0.0.1:9")  # nothing listens: 503
    )
    assert client.get("/api/monitoring/status", headers=headers).status_code == 503

    revoked = runner.invoke(users_app, ["revoke-operator", "admin", "--database-url", database_url])
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/api/monitoring/status", headers=headers).status_code == 403
    missing = runner.invoke(users_app, ["grant-operator", "nobody", "--database-url", database_url])
    assert missing.exit_code == 1
