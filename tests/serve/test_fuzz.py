"""Schemathesis fuzzes the API from its own OpenAPI schema: no request may cause a 500.

For every operation it draws valid bodies from the schema and, separately, invalid ones
(wrong types, missing fields, values outside the schema), and calls the app in process
(ASGI), with a fixed seed and a bounded number of cases. Schemathesis' pytest plugin does not
run under pytest 9, so the cases are drawn with Hypothesis directly.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from deepfit.serve.gateway import Gateway

CASES_PER_OPERATION = 40


def _operations(app: Gateway) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_causes_a_server_error(app: Gateway, mode: GenerationMode) -> None:
    operations = _operations(app)
    assert {op.path for op in operations} >= {"/predict", "/health", "/metadata", "/metrics"}
    checks = [not_a_server_error, status_code_conformance, content_type_conformance]
    if mode == GenerationMode.POSITIVE:
        checks.append(response_schema_conformance)
    if mode == GenerationMode.NEGATIVE:  # only /predict takes input that can be invalid
        operations = [op for op in operations if op.path == "/predict"]
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=CASES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call()
            assert response.status_code < 500, (case.body, response.text)
            case.validate_response(response, checks=checks)

        check()
