"""QR forms on citizens' phones: counter posters (/r/<code>) and single-use dossier codes
(/d/<token>), the thank-you page, and the API the dossier system asks for codes with.

The form is plain HTML (services/forms.py renders it; static/js/form.js only improves it), works
without JavaScript, and is CSRF-protected by the app-wide CSRFProtect. Its client UUID is the
response's idempotency key: a poster form's is this browser's visit, kept in the session cookie
for QR_VISIT_MINUTES, so the page reached with the back button after thanks, or sent again, says
the rating was recorded and stores nothing more (with or without JavaScript).
"""

import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from survey_app.errors import Conflict, NotFound, ValidationError
from survey_app.extensions import csrf, db
from survey_app.models import ApiKey, Counter, Unit
from survey_app.services.access import Access
from survey_app.services.api_keys import authenticate_api_key
from survey_app.services.audit import record_event
from survey_app.services.forms import build_form, errors_from_problems, read_form
from survey_app.services.qr_codes import (
    AlreadyRated,
    PosterRevoked,
    TokenExpired,
    TokenInvalid,
    get_active_poster,
    issue_dossier_token,
    mark_dossier_rated,
    qr_png,
    qr_svg,
    read_dossier_token,
    verify_dossier_token,
)
from survey_app.services.questionnaires import (
    find_questionnaire_version,
    get_current_questionnaire,
)
from survey_app.services.ratelimit import Limit, address_key, count_hit_sliding
from survey_app.services.submissions import (
    SubmissionPolicy,
    is_response_stored,
    submit_response,
)
from survey_app.services.units import find_counter, find_unit_by_code
from survey_app.web.auth import client_address, current_access
from survey_app.web.helpers import current_locale_code, public_url
from survey_app.web.jsonbody import read_json_object

bp = Blueprint("qr", __name__)

BROWSER_ID_KEY = "qr_browser"
# poster code -> [form id, when issued or sent (epoch seconds), sent]: this browser's visits.
VISITS_KEY = "qr_visits"
DOSSIER_FIELDS = frozenset({"dossier_code", "unit", "counter"})


@dataclass(frozen=True)
class Target:
    """Where a QR form's answers go: the unit, counter, questionnaire and channel."""

    unit: Unit
    counter: Counter | None
    questionnaire_key: str
    channel: str


def _message(title, message, status: int):
    return render_template("qr/message.html", title=title, message=message), status


def _render_form(
    target: Target,
    definition,
    *,
    client_id: str | None = None,
    status=200,
    values=None,
    errors=None,
    form_errors=(),
):
    form = build_form(
        definition,
        locale=current_locale_code(),
        place_name=target.unit.place_name(current_locale_code()),
        values=values,
        errors=errors,
        form_errors=form_errors,
    )
    if request.method == "POST":
        client_id = _valid_uuid(request.form.get("client_id"))
    return render_template(
        "qr/form.html",
        form=form,
        target=target,
        locale=current_locale_code(),
        client_id=client_id or str(uuid.uuid4()),
    ), status


def _recorded(status: int = 200):
    """This visit's rating is stored already: say so, store nothing."""
    return _message(
        _l("Your rating has been recorded"),
        _l(
            "This phone has already sent a rating for this visit, and it was recorded. "
            "Nothing more was stored. Thank you!"
        ),
        status,
    )


def _valid_uuid(value: str | None) -> str | None:
    try:
        return str(uuid.UUID(value)) if value else None
    except ValueError:
        return None


def _definition_for_post(key: str):
    """The version the page was rendered with (a newer one may have been loaded since)."""
    version = request.form.get("version", "")
    if version.isdigit():
        found = find_questionnaire_version(key, int(version))
        if found is not None:
            return found
    return get_current_questionnaire(key)


def _browser_id() -> str:
    """A random id kept in the (signed) session cookie: the per-browser rate limit's key."""
    if BROWSER_ID_KEY not in session:
        session[BROWSER_ID_KEY] = secrets.token_urlsafe(12)
    return session[BROWSER_ID_KEY]


def _visits() -> dict[str, list]:
    """This browser's poster visits still within QR_VISIT_MINUTES (older ones are forgotten)."""
    horizon = time.time() - current_app.config["QR_VISIT_MINUTES"] * 60
    kept = session.get(VISITS_KEY)
    return {
        code: visit
        for code, visit in (kept.items() if isinstance(kept, dict) else ())
        if isinstance(visit, list) and len(visit) == 3 and visit[1] > horizon
    }


def _poster_visit(poster_code: str) -> tuple[str, bool]:
    """(the form id of this browser's visit at the poster, whether its rating is stored); a new
    id when there is no visit yet or the last one is over."""
    visits = _visits()
    visit = visits.get(poster_code)
    if visit is None:
        visit = visits[poster_code] = [str(uuid.uuid4()), time.time(), False]
        session[VISITS_KEY] = visits
    return visit[0], visit[2]


def _remember_sent(poster_code: str, client_id: str) -> None:
    visits = _visits()
    visits[poster_code] = [client_id, time.time(), True]
    session[VISITS_KEY] = visits


def _within_limits(target: Target) -> bool:
    """Count this submission per browser, per address and per address at the target's unit and
    counter (sliding windows, so twice a limit cannot pass across a window's edge); False when
    any is over."""
    config = current_app.config
    per = timedelta(minutes=config["QR_LIMIT_WINDOW_MINUTES"])
    address = address_key(client_address())
    place = f"{target.unit.id}:{target.counter.id if target.counter else 0}"
    counted = [
        count_hit_sliding(key, Limit(config[limit], per)).allowed
        for key, limit in (
            (f"qr-browser:{_browser_id()}", "QR_LIMIT_PER_BROWSER"),
            (f"qr-address:{address}", "QR_LIMIT_PER_ADDRESS"),
            (f"qr-address-place:{address}:{place}", "QR_LIMIT_PER_ADDRESS_AT_A_PLACE"),
        )
    ]
    return all(counted)


def _submit(
    target: Target,
    *,
    rate_limited: bool,
    dossier_rating_id: int | None = None,
    poster_code: str | None = None,
):
    """Read, check and store the posted form; re-render it with messages when it needs fixing.
    A form whose id is stored already (sent again from the back button) stores nothing more."""
    client_id = _valid_uuid(request.form.get("client_id")) or str(uuid.uuid4())
    if is_response_stored(uuid.UUID(client_id)):
        if poster_code is not None:
            _remember_sent(poster_code, client_id)
        return _recorded()
    _, definition = _definition_for_post(target.questionnaire_key)
    locale = current_locale_code()
    reading = read_form(
        definition, request.form, locale=locale, place_name=target.unit.place_name(locale)
    )
    form_errors = []
    if reading.ok and not reading.answers:
        form_errors.append(_l("Please answer at least one question before sending."))
    if not reading.ok or form_errors:
        return _render_form(
            target,
            definition,
            status=422,
            values=reading.values,
            errors=reading.errors,
            form_errors=form_errors,
        )
    if rate_limited and not _within_limits(target):
        db.session.rollback()  # nothing stored; the window's count is already at its limit
        return render_template("qr/limited.html"), 429
    payload = {
        "id": client_id,
        "questionnaire": definition.key,
        "version": definition.version,
        "unit": target.unit.code,
        "locale": current_locale_code(),
        "answers": reading.answers,
    }
    if target.counter is not None:
        payload["counter"] = target.counter.code
    try:
        result = submit_response(
            payload,
            channel=target.channel,
            policy=SubmissionPolicy.from_config(current_app.config),
            expected_unit_id=target.unit.id,
            expected_counter_id=target.counter.id if target.counter else None,
        )
    except ValidationError as error:
        db.session.rollback()
        field_errors, others = errors_from_problems(error.problems)
        return _render_form(
            target,
            definition,
            status=422,
            values=reading.values,
            errors=field_errors,
            form_errors=others,
        )
    except Conflict:
        # Stored meanwhile by a request of its own (two taps at once): the first one counts.
        db.session.rollback()
        return _recorded()
    if not result.created:
        db.session.rollback()
        return _recorded()
    if dossier_rating_id is not None and not mark_dossier_rated(dossier_rating_id):
        db.session.rollback()  # another request used the code first: nothing of this one stays
        return _already_rated(409)
    db.session.commit()
    if poster_code is not None:
        _remember_sent(poster_code, client_id)
    return redirect(url_for(".thanks"))


def _already_rated(status: int = 200):
    return _message(
        _l("Already rated — thank you"),
        _l("This dossier has already been rated. Thank you for your feedback!"),
        status,
    )


# --- counter posters -----------------------------------------------------------------------------


@bp.route("/r/<poster_code>", methods=["GET", "POST"])
def poster_form(poster_code: str):
    """The questionnaire of a counter poster's QR code; POST stores the answers (rate-limited)."""
    try:
        poster = get_active_poster(poster_code)
    except NotFound:
        return _message(
            _l("Unknown QR code"),
            _l("This QR code is not one of ours. Please scan the code on the poster again."),
            404,
        )
    except PosterRevoked:
        return _message(
            _l("This QR code is no longer in use"),
            _l("Please ask at the counter for the current poster. Thank you!"),
            410,
        )
    target = Target(poster.unit, poster.counter, poster.questionnaire_key, "qr_counter")
    if request.method == "POST":
        return _submit(target, rate_limited=True, poster_code=poster.code)
    _browser_id()
    client_id, sent = _poster_visit(poster.code)
    if sent:
        return _recorded()
    _, definition = get_current_questionnaire(target.questionnaire_key)
    return _render_form(target, definition, client_id=client_id)


@bp.get("/qr/thanks")
def thanks():
    """Shown after a QR form was stored."""
    return render_template("qr/thanks.html")


# --- dossier codes -------------------------------------------------------------------------------


@bp.route("/d/<dossier_token>", methods=["GET", "POST"])
def dossier_form(dossier_token: str):
    """The rating form of one dossier: usable once, until it expires."""
    try:
        rating = read_dossier_token(dossier_token, secret_key=current_app.config["SECRET_KEY"])
    except TokenInvalid:
        return _message(
            _l("This link is not valid"),
            _l("Please scan the QR code on your receipt again, or type the link exactly."),
            404,
        )
    except AlreadyRated:
        return _already_rated(409 if request.method == "POST" else 200)
    except TokenExpired:
        return _message(
            _l("This rating link has expired"),
            _l(
                "Rating links work for %(days)s days after the dossier is received. Thank you!",
                days=current_app.config["DOSSIER_TOKEN_DAYS"],
            ),
            410,
        )
    target = Target(rating.unit, rating.counter, rating.questionnaire_key, "qr_dossier")
    if request.method == "POST":
        return _submit(target, rate_limited=False, dossier_rating_id=rating.id)
    _, definition = get_current_questionnaire(target.questionnaire_key)
    return _render_form(target, definition)


def _dossier_qr_url(dossier_token: str) -> str:
    try:
        verify_dossier_token(dossier_token, secret_key=current_app.config["SECRET_KEY"])
    except TokenInvalid:
        abort(404)
    return public_url("qr.dossier_form", dossier_token=dossier_token)


@bp.get("/d/<dossier_token>/qr.svg")
def dossier_qr_svg(dossier_token: str):
    """The QR code of a dossier's rating link, as SVG (to print on the receipt)."""
    return Response(qr_svg(_dossier_qr_url(dossier_token), inline=False), mimetype="image/svg+xml")


@bp.get("/d/<dossier_token>/qr.png")
def dossier_qr_png(dossier_token: str):
    """The QR code of a dossier's rating link, as PNG."""
    return Response(qr_png(_dossier_qr_url(dossier_token)), mimetype="image/png")


def _dossier_caller() -> tuple[Access, int | None, str, int | None]:
    """(scope, API key id, actor for the audit log, account id): an API key for dossier_codes,
    or a fresh session of staff who manage units (with the CSRF token, as cookies ride along)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        key = authenticate_api_key(header.removeprefix("Bearer ").strip(), "dossier_codes")
        if key is None:
            abort(401, description="the API key is unknown, revoked, or not for dossier codes")
        return Access.for_units([key.unit], manage=True), key.id, f"api key {key.prefix}", None
    if current_user.is_authenticated:
        if not current_access().may_manage_anything:
            abort(404)
        csrf.protect()
        return current_access(), None, current_user.username, current_user.id
    abort(401, description="send an API key for dossier codes: Authorization: Bearer sk_…")


@bp.post("/api/v1/dossier-codes")
@csrf.exempt
def issue_dossier_code():
    """Issue (or re-send) the single-use rating token of a dossier, for the dossier system."""
    access, key_id, actor, account_id = _dossier_caller()
    body = read_json_object()
    problems: dict[str, list[str]] = {}
    for name in body:
        if name not in DOSSIER_FIELDS:
            problems.setdefault(str(name), []).append("is not a field of this request")
    unit_code, counter_code = body.get("unit"), body.get("counter")
    if not isinstance(unit_code, str) or not unit_code.strip():
        problems.setdefault("unit", []).append("is required: the code of the unit")
    if counter_code is not None and (not isinstance(counter_code, str) or not counter_code):
        problems.setdefault("counter", []).append("must be a counter code, or left out")
    if problems:
        raise ValidationError(problems)
    unit = find_unit_by_code(unit_code.strip())
    if unit is None or not access.covers(unit, manage=True):
        raise NotFound(f"no unit {unit_code!r} here")
    counter = None
    if counter_code is not None:
        counter = find_counter(unit, counter_code)
        if counter is None:
            raise ValidationError(
                {"counter": [f"unit {unit.code} has no counter {counter_code!r}"]}
            )
    try:
        issued = issue_dossier_token(
            body.get("dossier_code"),
            unit,
            counter,
            secret_key=current_app.config["SECRET_KEY"],
            valid_for=timedelta(days=current_app.config["DOSSIER_TOKEN_DAYS"]),
            api_key=db.session.get(ApiKey, key_id) if key_id else None,
        )
    except Conflict as error:
        db.session.rollback()
        return jsonify({"errors": {"dossier_code": [str(error)]}}), 409
    if issued.created:
        record_event(
            "dossier_code.issue",
            actor=actor,
            account_id=account_id,
            unit_id=unit.id,
            client_address=client_address(),
            details={"rating_id": issued.rating.id, "counter": counter.code if counter else None},
        )
    db.session.commit()
    url = public_url("qr.dossier_form", dossier_token=issued.token)
    body = {
        "token": issued.token,
        "url": url,
        "qr_svg": qr_svg(url, inline=False),
        "qr_svg_url": public_url("qr.dossier_qr_svg", dossier_token=issued.token),
        "qr_png_url": public_url("qr.dossier_qr_png", dossier_token=issued.token),
        "expires_at": issued.rating.expires_at.isoformat(),
    }
    return jsonify(body), 201 if issued.created else 200


issue_dossier_code.required_role = "manager"
