"""An outage of the database or of object storage answers a readable 503, never a 500.

The storage case uses the real MinIO SDK against a port where nothing listens (what an upload met
while MinIO was stopped in the chaos run: a 500 from urllib3's MaxRetryError)."""

from __future__ import annotations

import io

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from infra.local.processes import free_port
from services.frontend.middleware import answer_outages_with_503
from shared.database import make_engine
from shared.settings import DatabaseSettings, StorageSettings
from shared.storage import MediaStore


def app_that(action: str) -> FastAPI:
    app = FastAPI()
    answer_outages_with_503(app)

    @app.post("/store")
    def store() -> None:
        if action == "storage":
            unreachable = MediaStore(StorageSettings(endpoint=f"127.0.0.1:{free_port()}"))
            unreachable.put_stream("uploads", "a/original", io.BytesIO(b"x"), 1, "image/jpeg")
        else:
            engine = make_engine(
                DatabaseSettings(
                    url=f"postgresql+psycopg://u:p@127.0.0.1:{free_port()}/db", connect_timeout_s=1
                )
            )
            with engine.connect() as connection:
                connection.execute(text("select 1"))

    return app


async def _post(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://site") as client:
        return await client.post("/store")


async def test_storage_down_answers_503_with_retry_after() -> None:
    response = await _post(app_that("storage"))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "storage is unavailable" in response.json()["detail"]


async def test_database_down_answers_503_with_retry_after() -> None:
    response = await _post(app_that("database"))
    assert response.status_code == 503
    assert "database is unavailable" in response.json()["detail"]
