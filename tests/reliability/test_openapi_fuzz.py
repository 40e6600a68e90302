"""The API fuzzed from its own OpenAPI description (served at /api/v1/openapi.json) with
Schemathesis: valid and invalid requests to every operation, never a 5xx, every response (status,
content type, body) as the description says. Against the WSGI app, on SQLite and PostgreSQL.

OPENAPI_EXAMPLES (default 40) sets the cases per operation and generation mode.
"""

import os
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.reliability.known_bugs import applies, known_bug
from tests.survey_app.conftest import key_client

EXAMPLES = int(os.environ.get("OPENAPI_EXAMPLES", "40"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,  # a request the description calls invalid must get a 4xx
]


@pytest.fixture
def api(app, tree):
    """The loaded description, fetched from the app itself."""
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def credentials(app, tree) -> dict[str, dict[str, str]]:
    """Headers per operation: POST /api/v1/responses is sent with an API key for
    submit_responses (its limit lifted), so that what it validates is fuzzed, not its 401."""
    app.config["API_KEY_SUBMISSIONS_PER_MINUTE"] = 10**9
    return {
        "POST /api/v1/responses": {
            "Authorization": f"Bearer {key_client(app, tree.province).secret}"
        }
    }


def operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


def test_the_description_loads_and_lists_every_operation(api):
    labels = {operation.label for operation in operations(api)}
    # (Schemathesis leaves out the operation that serves the description itself.)
    assert labels >= {"GET /healthz", "GET /api/v1/questionnaires/{key}", "POST /api/v1/responses"}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_every_operation_answers_as_described_and_never_5xx(api, credentials, backend, mode):
    sent: Counter = Counter()
    for operation in operations(api):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[
                HealthCheck.function_scoped_fixture,
                HealthCheck.too_slow,
                HealthCheck.filter_too_much,
            ],
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case):
            # Inputs of bugs not fixed yet (tests/reliability/known_bugs.py) are left out.
            key = str((case.path_parameters or {}).get("key", ""))
            if "\x00" in key and applies("nul in codes", backend):
                return
            if known_bug(case.body, backend):
                return
            case.call_and_validate(headers=credentials.get(case.operation.label), checks=CHECKS)
            sent[case.operation.label] += 1

        try:
            fuzz()
        except Unsatisfiable:
            # Nothing can be sent wrong where the description constrains nothing (no parameter
            # on GET /healthz; any string is a possible questionnaire key).
            assert mode == GenerationMode.NEGATIVE, operation.label
    assert sent["POST /api/v1/responses"] >= EXAMPLES // 2, sent
