"""A share link's token is a secret in a path: an outage met on its route logs the route's template."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError

from services.frontend.middleware import answer_outages_with_503

TOKEN = "kX3vSecretShareToken_0123456789"


async def test_an_outage_on_a_shared_page_logs_the_route_not_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()
    answer_outages_with_503(app)

    @app.get("/s/{token}")
    def shared(token: str) -> None:
        raise OperationalError("select", {}, Exception("connection refused"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    with caplog.at_level(logging.ERROR):
        async with httpx.AsyncClient(transport=transport, base_url="http://site") as client:
            answer = await client.get(f"/s/{TOKEN}")
    assert answer.status_code == 503
    assert "GET /s/{token}: database unavailable" in caplog.text
    assert TOKEN not in caplog.text
