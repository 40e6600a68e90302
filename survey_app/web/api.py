"""JSON API v1, for clients: kiosks, the dossier system, other tools. Described in openapi.yaml."""

from pathlib import Path

import yaml
from flask import Blueprint, current_app, jsonify, request

from survey_app.extensions import csrf
from survey_app.services.questionnaires import get_current_questionnaire
from survey_app.services.submissions import SubmissionPolicy, submit_alone
from survey_app.web.jsonbody import read_json_object

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# The API takes no cookies, so cross-site request forgery has nothing to ride on.
csrf.exempt(bp)

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI description of this API."""
    return jsonify(yaml.safe_load(OPENAPI_PATH.read_text(encoding="utf-8")))


@bp.get("/questionnaires/<key>")
def questionnaire(key: str):
    """The current version's definition, for clients that render the form themselves."""
    stored, _ = get_current_questionnaire(key)
    return {
        "key": stored.key,
        "version": stored.version,
        "content_hash": stored.content_hash,
        "definition": stored.definition,
    }


@bp.post("/responses")
def create_response():
    """Store one response: 201 when new, 200 when it replays one already stored. A kiosk sends
    `Authorization: Kiosk <credential>` (see web/kiosk.py); everybody else submits as `web`."""
    if request.headers.get("Authorization", "").startswith("Kiosk "):
        from survey_app.web.kiosk import submit_from_kiosk

        return submit_from_kiosk()
    payload = read_json_object()
    result = submit_alone(
        payload, channel="web", policy=SubmissionPolicy.from_config(current_app.config)
    )
    body = {
        "id": str(result.response_id),
        "status": "created" if result.created else "already_stored",
    }
    return body, 201 if result.created else 200
