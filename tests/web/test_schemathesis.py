"""The API fuzzed by schemathesis against the running server (`botcensus serve` on
loopback): generated requests to every operation of the OpenAPI document, as the public, a
network owner and the operator; no answer is a server error, and every answer matches the
document (status code, content type, schema)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
EXAMPLES = 25


@pytest.fixture(scope="module")
def operations(server):
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) == 15  # every /api/v1 route
    return found


@pytest.mark.parametrize("role", ["public", "owner_b", "operator"])
def test_fuzzed_requests_get_no_server_error_and_match_the_schema(operations, tokens, role):
    token = None if role == "public" else getattr(tokens, role)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=60)

        check()
