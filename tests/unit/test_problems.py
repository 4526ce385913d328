"""A request FastAPI refuses reads like every other refusal: one sentence in `detail`."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, field_validator

from shared.frame.problems import install_problem_responses


class Account(BaseModel):
    username: str
    age: int

    @field_validator("username")
    @classmethod
    def short(cls, value: str) -> str:
        if len(value) > 5:
            raise ValueError("username must be at most 5 characters")
        return value


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_responses(app)

    @app.post("/accounts")
    async def create(account: Account, dry_run: bool = False) -> dict[str, str]:
        return {"username": account.username}

    return app


async def _post(body: object, query: str = "") -> httpx.Response:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(f"/accounts{query}", json=body)


async def test_a_validation_failure_says_what_was_wrong_in_one_sentence() -> None:
    response = await _post(
        {"username": "much-too-long", "age": "old", "password": "hunter2"}, "?dry_run=maybe"
    )
    assert response.status_code == 422
    problem = response.json()
    assert isinstance(problem["detail"], str)
    assert "username: username must be at most 5 characters" in problem["detail"]
    assert "age: " in problem["detail"]
    assert "dry_run: " in problem["detail"]
    assert {tuple(e["loc"]) for e in problem["errors"]} >= {("body", "username"), ("body", "age")}
    # What was sent is never echoed back (it may be a password or a huge body).
    assert "much-too-long" not in response.text
    assert "hunter2" not in response.text


async def test_a_body_that_is_not_json_is_one_sentence_too() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            "/accounts", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_the_openapi_document_describes_the_same_shape() -> None:
    document = _app().openapi()
    problem = document["components"]["schemas"]["HTTPValidationError"]
    assert problem["properties"]["detail"]["type"] == "string"
    assert problem["required"] == ["detail", "errors"]
