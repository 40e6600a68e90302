"""Tablet kiosks at the counter: the kiosk page, enrolment, the service worker, the device API.

Nothing here uses the staff session. The tablet proves what it is with its device credential in
the `Authorization: Kiosk <credential>` header (never a cookie: another site cannot make a
browser send it, and a cross-site request with that header needs a CORS preflight this app never
grants). The credential is handed to the page once, in the JSON answer to the enrolment POST;
kiosk.js keeps it in IndexedDB ("device" store) next to the delivery queue.

Staff pages (creating, listing, revoking kiosks; officer duty; per-officer figures) are in
kiosk_admin.py.
"""

from datetime import timedelta
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    make_response,
    render_template,
    request,
)

from survey_app.errors import NotFound
from survey_app.extensions import csrf, db
from survey_app.models import Kiosk
from survey_app.services.audit import record_event
from survey_app.services.kiosks import (
    KioskRefused,
    authenticate_kiosk,
    enrol,
    find_kiosk_by_enrolment_token,
    heartbeat,
    kiosk_config,
    submit_kiosk_response,
)
from survey_app.services.ratelimit import Limit, count_hit
from survey_app.services.submissions import SubmissionPolicy
from survey_app.web.jsonbody import read_json_object

bp = Blueprint("kiosk", __name__)

STATIC_JS = Path(__file__).resolve().parent.parent / "static" / "js"
# Reported by the tablet in its heartbeat; bump when kiosk.js or the service worker changes.
APP_VERSION = "kiosk-1"


@bp.app_errorhandler(KioskRefused)
def _refused(error: KioskRefused):
    """401 with a code the tablet acts on: "kiosk_revoked" shows the re-enrolment screen."""
    db.session.rollback()
    response = jsonify({"error": error.code, "errors": {"authorization": [error.message]}})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Kiosk realm="kiosk"'
    return response


def _current_kiosk() -> Kiosk:
    header = request.headers.get("Authorization", "")
    credential = header[len("Kiosk ") :].strip() if header.startswith("Kiosk ") else None
    return authenticate_kiosk(credential, secret_key=current_app.config["SECRET_KEY"])


def _within_rate(kiosk: Kiosk, what: str):
    """None if this request is within the kiosk's per-minute limit, else the 429 to answer."""
    limit = Limit(current_app.config["KIOSK_RATE_PER_MINUTE"], timedelta(minutes=1))
    if count_hit(f"kiosk:{kiosk.id}:{what}", limit):
        return None
    db.session.rollback()
    response = jsonify(
        {
            "error": "rate_limited",
            "errors": {"request": [f"this kiosk sends more than {limit.describe()}; wait"]},
        }
    )
    response.status_code = 429
    response.headers["Retry-After"] = "60"
    return response


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the device API (documented in openapi.yaml) ----------------------------------------------


def submit_from_kiosk():
    """POST /api/v1/responses with a kiosk credential (called by api.create_response)."""
    payload = read_json_object()
    kiosk = _current_kiosk()
    refused = _within_rate(kiosk, "submit")
    if refused is not None:
        return refused
    result = submit_kiosk_response(
        kiosk, payload, policy=SubmissionPolicy.from_config(current_app.config)
    )
    db.session.commit()
    body = {
        "id": str(result.response_id),
        "status": "created" if result.created else "already_stored",
    }
    return _no_store(make_response(body, 201 if result.created else 200))


@bp.post("/api/v1/kiosk/heartbeat")
@csrf.exempt
def heartbeat_view():
    """The tablet reports in (queue length, app version) and gets its configuration back."""
    body = read_json_object()
    kiosk = _current_kiosk()
    refused = _within_rate(kiosk, "heartbeat")
    if refused is not None:
        return refused
    heartbeat(kiosk, queue_length=body.get("queue_length"), app_version=body.get("app_version"))
    config = kiosk_config(kiosk, current_app.config)
    db.session.commit()
    return _no_store(make_response(config, 200))


# --- pages ----------------------------------------------------------------------------------------


@bp.get("/kiosk/")
def screen():
    """The kiosk application shell; kiosk.js fills it from the heartbeat's configuration."""
    response = make_response(render_template("kiosk/screen.html", app_version=APP_VERSION))
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/kiosk/sw.js")
def service_worker():
    """The service worker, served from /kiosk/ so that its scope covers the kiosk pages."""
    # A small file read whole: no open file handle outlives the request.
    response = Response((STATIC_JS / "kiosk-sw.js").read_bytes(), mimetype="text/javascript")
    response.headers["Service-Worker-Allowed"] = "/kiosk/"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/kiosk/manifest.webmanifest")
def manifest():
    """Lets the tablet's browser add the kiosk to the home screen and open it full screen."""
    body = {
        "name": "Đánh giá sự hài lòng",
        "short_name": "Đánh giá",
        "start_url": "/kiosk/",
        "scope": "/kiosk/",
        "display": "fullscreen",
        "orientation": "any",
        "background_color": "#ffffff",
        "theme_color": "#0b3d91",
        "icons": [{"src": "/static/favicon.svg", "sizes": "any", "type": "image/svg+xml"}],
    }
    response = jsonify(body)
    response.mimetype = "application/manifest+json"
    return response


@bp.get("/kiosk/enrol/<token>")
def enrol_page(token: str):
    """What the enrolment link opens on the tablet; kiosk.js then POSTs to consume the token.
    (A GET changes nothing, so a link preview in a chat app cannot use the token up.)"""
    kiosk = find_kiosk_by_enrolment_token(token)
    status = 200 if kiosk is not None else 410
    response = make_response(render_template("kiosk/enrol.html", kiosk=kiosk), status)
    response.headers["Referrer-Policy"] = "no-referrer"
    return _no_store(response)


@bp.post("/kiosk/enrol/<token>")
@csrf.exempt  # the one-time token in the URL is the capability; a forged POST would need it
def enrol_view(token: str):
    """Consume the one-time token; answer the device credential (JSON) for kiosk.js to keep."""
    try:
        kiosk, credential = enrol(token, secret_key=current_app.config["SECRET_KEY"])
    except NotFound as error:
        db.session.rollback()
        return _no_store(
            make_response({"error": "enrolment_invalid", "errors": {"token": [str(error)]}}, 410)
        )
    record_event(
        "kiosk.enrol",
        actor=f"kiosk {kiosk.id}",
        unit_id=kiosk.unit_id,
        client_address=request.remote_addr,
        details={
            "kiosk_id": kiosk.id,
            "counter_id": kiosk.counter_id,
            "version": kiosk.credential_version,
        },
    )
    db.session.commit()
    return _no_store(make_response({"credential": credential, "kiosk": kiosk.id}, 200))
