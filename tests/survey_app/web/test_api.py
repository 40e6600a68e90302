"""The JSON API over HTTP: who may submit, status codes, error bodies, and the database untouched
on refusals."""

import json
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import func, select

from survey_app import create_app
from survey_app.extensions import db
from survey_app.models import Answer, Response
from survey_app.services.api_keys import revoke_api_key
from survey_app.services.rollup import settle_pending
from survey_app.timeutil import utcnow
from survey_app.web.api import OPENAPI_PATH
from tests.conftest import make_config
from tests.survey_app.conftest import key_client
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


def test_a_response_is_created_then_replayed_idempotently(api_client):
    payload = counter_payload()
    first = api_client.post("/api/v1/responses", json=payload)
    assert first.status_code == 201
    assert first.json == {"id": payload["id"], "status": "created"}
    again = api_client.post("/api/v1/responses", json=payload)
    assert again.status_code == 200
    assert again.json == {"id": payload["id"], "status": "already_stored"}
    assert stored() == (1, 18)


def test_the_same_id_with_other_content_is_409(api_client):
    payload = quick_payload()
    assert api_client.post("/api/v1/responses", json=payload).status_code == 201
    conflict = api_client.post("/api/v1/responses", json=dict(payload, answers={"rating": 1}))
    assert conflict.status_code == 409
    assert "different answers" in conflict.json["errors"]["id"][0]
    assert stored() == (1, 1)


def test_invalid_answers_are_422_with_every_problem_named(api_client):
    """(Unknown codes and codes outside the key's units get the same words: see below.)"""
    response = api_client.post(
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
    api_client, body, content_type, status, words
):
    response = api_client.post("/api/v1/responses", data=body, content_type=content_type)
    assert response.status_code == status
    assert any(words in message for message in response.json["errors"]["request"]), response.json
    assert stored() == (0, 0)


def test_html_in_text_comes_back_escaped_nowhere_because_the_api_only_echoes_ids(api_client):
    payload = counter_payload()
    response = api_client.post("/api/v1/responses", json=payload)
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


def test_the_openapi_example_is_a_valid_submission(api_client):
    spec = yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8"))
    example = spec["components"]["schemas"]["ResponseSubmission"]["example"]
    example = {k: v for k, v in example.items() if k not in ("unit", "counter", "submitted_at")}
    response = api_client.post("/api/v1/responses", json=dict(example, unit="P-W1", counter="Q1"))
    assert response.status_code == 201, response.json


def test_front_page_lists_questionnaires_and_switches_language(client):
    page = client.get("/?lang=en").get_data(as_text=True)
    assert "sipas-counter" in page and "quick-rating" in page
    assert "Citizen satisfaction with public administrative services" in page


# --- who may submit -------------------------------------------------------------------------------


def test_an_anonymous_submission_is_refused_naming_the_credentials_it_takes(client, tree):
    response = client.post("/api/v1/responses", json=quick_payload())
    assert response.status_code == 401
    message = response.json["errors"]["authorization"][0]
    assert "Kiosk <credential>" in message and "Bearer sk_" in message
    assert "Kiosk" in response.headers["WWW-Authenticate"]
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert stored() == (0, 0)


@pytest.mark.parametrize("purpose", ["read_figures", "dossier_codes"])
def test_a_key_for_another_purpose_or_revoked_or_made_up_is_refused(app, tree, purpose):
    other = key_client(app, tree.province, purpose)
    assert other.post("/api/v1/responses", json=quick_payload()).status_code == 401
    made_up = key_client(app, tree.province)
    made_up.secret = made_up.secret[:-4] + "AAAA"
    assert made_up.post("/api/v1/responses", json=quick_payload()).status_code == 401
    revoked = key_client(app, tree.province)
    assert revoked.post("/api/v1/responses", json=quick_payload()).status_code == 201
    from survey_app.models import ApiKey

    revoke_api_key(db.session.scalar(select(ApiKey.id).order_by(ApiKey.id.desc())))
    db.session.commit()
    refused = revoked.post("/api/v1/responses", json=quick_payload())
    assert refused.status_code == 401
    assert "revoked" in refused.json["errors"]["authorization"][0]
    assert stored()[0] == 1


def test_a_key_submits_in_its_own_units_only_and_cannot_tell_other_codes_exist(app, tree):
    ward_key = key_client(app, tree.ward)
    assert ward_key.post("/api/v1/responses", json=quick_payload()).status_code == 201
    elsewhere = ward_key.post("/api/v1/responses", json=quick_payload(unit="P-C1", counter="Q1"))
    nowhere = ward_key.post("/api/v1/responses", json=quick_payload(unit="P-XX", counter="Q1"))
    assert elsewhere.status_code == nowhere.status_code == 422
    assert elsewhere.json["errors"]["unit"] == ["no unit has the code 'P-C1'"]
    assert nowhere.json["errors"]["unit"] == ["no unit has the code 'P-XX'"]
    assert stored()[0] == 1


def test_a_keyed_response_is_attributed_to_its_key_and_takes_the_time_of_arrival(api_client):
    before = utcnow()
    payload = quick_payload(submitted_at=utcnow().isoformat())
    assert api_client.post("/api/v1/responses", json=payload).status_code == 201
    db.session.rollback()
    row = db.session.get(Response, __import__("uuid").UUID(payload["id"]))
    assert row.channel == "web" and row.entered_by == "citizen" and row.api_key_id is not None
    assert row.kiosk_id is None and row.submitted_at >= before
    assert row.submitted_at == row.received_at
    from survey_app.models import ApiKey

    assert db.session.get(ApiKey, row.api_key_id).last_used_at >= before


def test_only_kiosks_may_backdate_a_response(api_client):
    """A machine client's time is not stored: an hour or 80 days ago is the time of arrival,
    and the same payload sent again later is the same response (a retry after an outage)."""
    for age in (timedelta(hours=1), timedelta(days=80)):
        payload = quick_payload(submitted_at=(utcnow() - age).isoformat())
        before = utcnow()
        assert api_client.post("/api/v1/responses", json=payload).status_code == 201
        again = api_client.post("/api/v1/responses", json=payload)
        assert again.status_code == 200 and again.json["status"] == "already_stored"
        db.session.rollback()
        row = db.session.get(Response, __import__("uuid").UUID(payload["id"]))
        assert row.submitted_at >= before
    assert stored()[0] == 2


def test_a_key_is_limited_per_minute_in_all_its_units(app, tree, one_minute):
    """Every attempt counts, a refused payload too; the count and the INSERT are one
    transaction."""
    app.config["API_KEY_SUBMISSIONS_PER_MINUTE"] = 3
    province_key = key_client(app, tree.province)
    payloads = [
        quick_payload(unit="P-W1"),
        quick_payload(unit="P-C1", answers={"rating": 9}),
        quick_payload(unit="P-C1", counter="Q1"),
        quick_payload(unit="P-W1"),
    ]
    statuses = [province_key.post("/api/v1/responses", json=p).status_code for p in payloads]
    assert statuses == [201, 422, 201, 429]
    limited = province_key.post("/api/v1/responses", json=quick_payload())
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "60"
    assert "more than 3 per minute" in limited.json["errors"]["request"][0]
    assert stored()[0] == 2
    # Another key has its own allowance.
    assert (
        key_client(app, tree.ward).post("/api/v1/responses", json=quick_payload()).status_code
        == 201
    )


def test_two_hundred_anonymous_posts_move_no_figure(app, client, tree):
    """The stuffing run that moved a ward's quarter from 90.9 % to 11.1 %: 200 anonymous low
    ratings, as fast as they go. Every one is refused and every figure stays as it was."""
    for rating in [3] * 10 + [1] * 2:
        payload = quick_payload(answers={"rating": rating})
        assert key_client(app, tree.ward).post("/api/v1/responses", json=payload).status_code == 201
    assert stored()[0] == 12
    app.config["MIN_N"] = 10
    reader = key_client(app, tree.province, "read_figures")
    figures_url = "/api/v1/figures?questionnaire=quick-rating&period=quarter"
    before = reader.get(figures_url).json
    ward = next(u for u in before["units"] if u["unit"] == "P-W1")
    assert ward["headline"]["n"] == 12 and ward["headline"]["estimate"] == pytest.approx(10 / 12)
    statuses = {
        client.post(
            "/api/v1/responses",
            json=quick_payload(answers={"rating": 1}),
            headers={"X-Forwarded-For": f"198.51.100.{n % 250}"},
        ).status_code
        for n in range(200)
    }
    assert statuses == {401}
    assert stored()[0] == 12
    assert reader.get(figures_url).json == before
