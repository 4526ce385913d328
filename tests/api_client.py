"""Signing a plain httpx client in to the public API, for tests and benchmarks."""

from __future__ import annotations

import httpx

from shared.events import new_id

TEST_PASSWORD = "a long test passphrase"


def sign_up(http: httpx.Client, username: str | None = None, password: str = TEST_PASSWORD) -> str:
    """Register a new user and make them the client's caller (bearer token); returns the user id."""
    username = username or f"user-{new_id()[:10]}"
    created = http.post(
        "/api/auth/register",
        json={"username": username, "email": f"{username}@example.org", "password": password},
    )
    assert created.status_code == 201, created.text
    token = http.post("/api/auth/token", data={"username": username, "password": password})
    assert token.status_code == 200, token.text
    http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    user_id: str = created.json()["user_id"]
    return user_id
