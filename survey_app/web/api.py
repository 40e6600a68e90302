"""JSON API v1, for clients: kiosks, the dossier system, other tools. Described in openapi.yaml."""

from datetime import timedelta
from pathlib import Path

import yaml
from flask import Blueprint, current_app, jsonify, request

from survey_app.extensions import csrf
from survey_app.services.api_keys import find_submitting_key
from survey_app.services.questionnaires import get_current_questionnaire
from survey_app.services.ratelimit import Limit
from survey_app.services.submissions import Quota, SubmissionPolicy, submit_alone
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


# What an unauthenticated POST /responses is told: the channels that can be limited and
# attributed. Citizens without a kiosk rate through the poster and dossier QR forms.
CREDENTIALS_TAKEN = (
    "send a credential: 'Authorization: Kiosk <credential>' from a tablet enrolled at a counter, "
    "or 'Authorization: Bearer sk_…' with an API key for submitting responses; citizens rate "
    "through a counter's kiosk, its poster's QR code or the QR code on their dossier receipt"
)


@bp.post("/responses")
def create_response():
    """Store one response: 201 when new, 200 when it replays one already stored. Only from a
    channel that can be limited and attributed: a kiosk (`Authorization: Kiosk <credential>`,
    web/kiosk.py) or a machine client's API key for submit_responses (`Authorization: Bearer`);
    anything else is a 401 naming both."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Kiosk "):
        from survey_app.web.kiosk import submit_from_kiosk

        return submit_from_kiosk()
    if header.startswith("Bearer "):
        return _submit_with_api_key(header.removeprefix("Bearer ").strip())
    return _unauthorised(CREDENTIALS_TAKEN, 'Kiosk realm="kiosk", Bearer realm="api"')


def _submit_with_api_key(presented: str):
    """A machine client's response: channel `web`, in the key's units, stored with the key's id
    and the time of arrival, at most API_KEY_SUBMISSIONS_PER_MINUTE per key."""
    key = find_submitting_key(presented)
    if key is None:
        return _unauthorised(
            "the API key is unknown, revoked, or not for submitting responses", 'Bearer realm="api"'
        )
    payload = read_json_object()
    limit = Limit(current_app.config["API_KEY_SUBMISSIONS_PER_MINUTE"], timedelta(minutes=1))
    result = submit_alone(
        payload,
        channel="web",
        policy=SubmissionPolicy.from_config(current_app.config),
        unit_path=key.unit_path,
        api_key_id=key.id,
        quota=Quota(f"api-key:{key.id}:submit", limit, api_key_id=key.id),
    )
    body = {
        "id": str(result.response_id),
        "status": "created" if result.created else "already_stored",
    }
    return body, 201 if result.created else 200


def _unauthorised(message: str, challenge: str):
    response = jsonify({"errors": {"authorization": [message]}})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = challenge
    return response
