"""The JSON API over HTTP: status codes, error bodies, and the database untouched on refusals."""

import json

import pytest
import yaml
from sqlalchemy import func, select

from survey_app import create_app
from survey_app.extensions import db
from survey_app.models import Answer, Response
from survey_app.services.rollup import settle_pending
from survey_app.web.api import OPENAPI_PATH
from tests.conftest import make_config
from tests.survey_app.payloads import counter_payload, quick_payload


def stored() -> tuple[int, int]:
    """(responses, answer rows) the requests committed, the answers settled (services/rollup)."""
    db.session.rollback()
    settle_pending()
    return (
        db.session.scalar(select(func.count()).select_from(Response)),
        db.session.scalar(select(func.count()).select_from(Answer)),
    )


def test_health_is_ok_after_a_database_round_trip(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_health_is_503_when_the_database_is_unreachable(tmp_path):
    broken = create_app(make_config("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"


def test_a_response_is_created_then_replayed_idempotently(client, tree):
    payload = counter_payload()
    first = client.post("/api/v1/responses", json=payload)
    assert first.status_code == 201
    assert first.json == {"id": payload["id"], "status": "created"}
    again = client.post("/api/v1/responses", json=payload)
    assert again.status_code == 200
    assert again.json == {"id": payload["id"], "status": "already_stored"}
    assert stored() == (1, 18)


def test_the_same_id_with_other_content_is_409(client, tree):
    payload = quick_payload()
    assert client.post("/api/v1/responses", json=payload).status_code == 201
    conflict = client.post("/api/v1/responses", json=dict(payload, answers={"rating": 1}))
    assert conflict.status_code == 409
    assert "different answers" in conflict.json["errors"]["id"][0]
    assert stored() == (1, 1)


def test_invalid_answers_are_422_with_every_problem_named(client, tree):
    response = client.post(
        "/api/v1/responses", json=quick_payload(unit="NOPE", answers={"rating": 7, "x": 1})
    )
    assert response.status_code == 422
    errors = response.json["errors"]
    assert errors["unit"] == ["no unit has the code 'NOPE'"]
    assert errors["answers.x"] == ["is not a question of quick-rating version 1"]
    assert stored() == (0, 0)


BAD_BODIES = [
    ("not json", b"rating=3", "application/json", 400, "not valid JSON"),
    ("a list", b"[1, 2]", "application/json", 400, "must be a JSON object"),
    ("duplicated key", b'{"id": "a", "id": "b"}', "application/json", 400, "appears twice"),
    ("NaN", b'{"version": NaN}', "application/json", 400, "not a number JSON allows"),
    ("invalid utf-8", b'{"unit": "\xff"}', "application/json", 400, "not valid UTF-8"),
    ("deep nesting", b"[" * 30_000 + b"]" * 30_000, "application/json", 400, "nested too deeply"),
    (
        "form encoded",
        b"a=1",
        "application/x-www-form-urlencoded",
        415,
        "Content-Type: application/json",
    ),
    ("too large", b'{"a": "' + b"x" * 70_000 + b'"}', "application/json", 413, "64 KiB"),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "words"),
    [b[1:] for b in BAD_BODIES],
    ids=[b[0] for b in BAD_BODIES],
)
def test_malformed_bodies_get_a_clear_4xx_and_store_nothing(
    client, tree, body, content_type, status, words
):
    response = client.post("/api/v1/responses", data=body, content_type=content_type)
    assert response.status_code == status
    assert any(words in message for message in response.json["errors"]["request"]), response.json
    assert stored() == (0, 0)


def test_html_in_text_comes_back_escaped_nowhere_because_the_api_only_echoes_ids(client, tree):
    payload = counter_payload()
    response = client.post("/api/v1/responses", json=payload)
    assert "<script>" not in response.get_data(as_text=True)


def test_the_current_questionnaire_is_served(client):
    response = client.get("/api/v1/questionnaires/sipas-counter")
    assert response.status_code == 200
    body = response.json
    assert (body["key"], body["version"]) == ("sipas-counter", 1)
    assert len(body["definition"]["questions"]) == 18
    assert client.get("/api/v1/questionnaires/nope").status_code == 404
    assert "nope" in client.get("/api/v1/questionnaires/nope").json["errors"]["request"][0]


def test_unknown_api_routes_answer_json(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert "errors" in response.json


def test_the_openapi_description_covers_every_api_route(app, client):
    spec = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    assert client.get("/api/v1/openapi.json").json == json.loads(json.dumps(spec))
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule == "/healthz":
            path = rule.rule.replace("<", "{").replace(">", "}")
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented


def test_the_openapi_example_is_a_valid_submission(client, tree):
    spec = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    example = spec["components"]["schemas"]["ResponseSubmission"]["example"]
    example = {k: v for k, v in example.items() if k not in ("unit", "counter", "submitted_at")}
    response = client.post("/api/v1/responses", json=dict(example, unit="P-W1", counter="Q1"))
    assert response.status_code == 201, response.json


def test_front_page_lists_questionnaires_and_switches_language(client):
    page = client.get("/?lang=en").get_data(as_text=True)
    assert "sipas-counter" in page and "quick-rating" in page
    assert "Citizen satisfaction with public administrative services" in page
