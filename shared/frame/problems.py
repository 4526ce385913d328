"""Refusals read the same everywhere: `{"detail": "<a sentence>"}`, also when FastAPI refuses a request.

FastAPI answers a request that fails validation with `{"detail": [<error objects>]}`, while every
refusal the services raise themselves is `{"detail": "<sentence>"}` (the frontend's `Problem`). A
client then needs two parsers, and the published OpenAPI document contradicts itself wherever a
route declares its own 422. Here a validation failure also says what was wrong in one sentence, and
keeps the machine-readable errors beside it, without echoing what was sent (a password, a huge body).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

#: FastAPI's name for its validation-error body in the OpenAPI document, replaced by ours.
_FASTAPI_SCHEMA = "HTTPValidationError"
VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationProblem",
    "type": "object",
    "required": ["detail", "errors"],
    "properties": {
        "detail": {"type": "string", "title": "What was wrong, in one sentence"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
    },
}


def install_problem_responses(app: FastAPI) -> None:
    """Validation failures answer 422 `{"detail": sentence, "errors": [...]}`, and the document says so."""
    app.add_exception_handler(RequestValidationError, _validation_problem)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schemas = document.get("components", {}).get("schemas", {})
            if _FASTAPI_SCHEMA in schemas:
                schemas[_FASTAPI_SCHEMA] = VALIDATION_PROBLEM_SCHEMA
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _validation_problem(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [{"loc": e["loc"], "msg": e["msg"], "type": e["type"]} for e in error.errors()]
    return JSONResponse(
        status_code=422,
        content=jsonable_encoder({"detail": describe(errors), "errors": errors}),
    )


def describe(errors: list[dict[str, Any]]) -> str:
    """`username: must be 3 to 32 characters; email: ...` from FastAPI's error objects."""
    parts = []
    for each in errors:
        where = ".".join(str(part) for part in each["loc"][1:]) or str(each["loc"][0])
        message = str(each["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "the request is not valid"
