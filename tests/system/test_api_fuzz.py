"""Property-based requests from the site's own OpenAPI document (schemathesis), signed in and anonymous.

Every operation of the public API gets a bounded number of generated requests, valid and invalid:
none may answer 5xx, and every answer must match what the document says of it. `make fuzz` runs the
same with many more examples (FUZZ_API_EXAMPLES).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from tests.api_client import sign_up
from tests.system.conftest import Site

EXAMPLES = int(os.environ.get("FUZZ_API_EXAMPLES", "10"))
#: Operations a fuzzer must not call: they end the session it runs in, or never end (event streams).
SKIPPED = r"^/api/auth/logout$|/events$|/stream$"


@pytest.fixture(scope="module")
def api_schema(small_site: Site) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{small_site.stack.config.frontend_url}/openapi.json")
    return schema.include(path_regex="^/api/").exclude(path_regex=SKIPPED)


@pytest.fixture(scope="module")
def bearer(small_site: Site) -> Iterator[dict[str, str]]:
    with httpx.Client(base_url=small_site.stack.config.frontend_url, timeout=30) as http:
        sign_up(http)
        yield {"Authorization": http.headers["Authorization"]}


CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("FUZZ_RANDOM") is None,  # the same cases every run unless asked
    database=None,
    print_blob=True,
)


def fuzz_every_operation(schema: schemathesis.BaseSchema, headers: dict[str, str]) -> list[str]:
    """Each operation's generated requests; the failures found, one line per operation."""
    failures = []
    for loaded in schema.get_all_operations():
        if isinstance(loaded, Err):
            failures.append(f"an operation the fuzzer cannot read: {loaded.err()}")
            continue
        operation = loaded.ok()

        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def fuzz(case: Case[Any]) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

        try:
            fuzz()
        except (AssertionError, FailureGroup) as failure:  # a group: what one operation broke
            failures.append(f"{operation.label}: {_summary(failure)}")
    return failures


def _summary(failure: BaseException) -> str:
    parts = failure.exceptions if isinstance(failure, BaseExceptionGroup) else (failure,)
    return "; ".join(" ".join(line for line in str(part).splitlines()[:8] if line.strip()) for part in parts)


def test_signed_in_requests_never_fail_the_server(
    api_schema: schemathesis.BaseSchema, bearer: dict[str, str]
) -> None:
    failures = fuzz_every_operation(api_schema, bearer)
    assert not failures, "\n".join(failures)


def test_anonymous_requests_never_fail_the_server(api_schema: schemathesis.BaseSchema) -> None:
    failures = fuzz_every_operation(api_schema, {})
    assert not failures, "\n".join(failures)
