"""The annual survey: the online multi-page household form (public, no JavaScript needed) and the
staff pages for its links, sampled households and response rates.

The browser holds only the draft's random id, in the signed session cookie; the answers live in
the draft (FormDraft) until the last page is submitted. Whatever a page is sent with (next, back,
or next refused for a problem), what was typed on it is kept in the draft, problems included:
going back loses nothing, and the page shown again names each kept answer's problem.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from markupsafe import Markup

from questionnaires import Definition, LocalizedText
from survey_app.errors import ValidationError
from survey_app.extensions import db
from survey_app.models import AnnualLink, Unit
from survey_app.services.access import get_unit_in_scope, list_units_in_scope
from survey_app.services.annual import (
    DraftExpired,
    SampleCodeUsed,
    check_year,
    create_link,
    get_active_link,
    get_draft,
    get_link_in_units,
    import_sample_codes,
    list_links,
    list_response_rates,
    mark_sample_codes,
    revoke_link,
    save_draft_answers,
    start_draft,
    submit_draft,
)
from survey_app.services.annual_forms import get_page
from survey_app.services.forms import (
    build_form,
    check_kept_answers,
    estimated_minutes,
    read_form,
)
from survey_app.services.questionnaires import (
    find_questionnaire_version,
    get_current_questionnaire,
)
from survey_app.services.ratelimit import Limit, address_key, count_hit
from survey_app.services.submissions import SubmissionPolicy
from survey_app.timeutil import utcnow
from survey_app.web.auth import audit, current_access, manager_required, staff_required
from survey_app.web.helpers import current_locale_code, local_time, public_url
from survey_app.web.uploads import accepts_upload

bp = Blueprint("annual", __name__)

DRAFT_KEY = "annual_draft"
DONE_KEY = "annual_done"
# A household starts the form once; a browser starting hundreds is filling the drafts table.
START_LIMIT = Limit(30, timedelta(hours=1))


def _idle() -> timedelta:
    return timedelta(minutes=current_app.config["ANNUAL_DRAFT_IDLE_MINUTES"])


def _texts(unit: Unit):
    """A function for templates: a LocalizedText in the current language, [ĐPV] filled in."""
    locale = current_locale_code()
    place = unit.place_name(locale)

    def text(value: LocalizedText | None) -> str:
        return value.get(locale).replace("[ĐPV]", place) if value is not None else ""

    return text


def _no_store(response):
    """Form pages are never cached: going back fetches the page again, with the kept answers."""
    response = make_response(response)
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the public form ----------------------------------------------------------------------------


@bp.route("/a/<link_code>", methods=["GET", "POST"])
def start(link_code: str):
    """The annual form's first screen (asks for the sample code when the link needs one); a POST
    starts a draft and goes to page 1."""
    link = get_active_link(link_code)
    _questionnaire, definition = get_current_questionnaire("sipas-annual")
    problems: dict[str, list[str]] = {}
    if request.method == "POST":
        if not count_hit(f"annual-start:{address_key(request.remote_addr)}", START_LIMIT):
            db.session.commit()
            abort(429, description=_("Too many attempts from this device; try again later."))
        try:
            draft = start_draft(link, request.form.get("sample_code"))
        except SampleCodeUsed:
            db.session.commit()  # the attempt counts
            return render_template("annual/already_answered.html", link=link), 200
        except ValidationError as error:
            db.session.commit()
            problems = error.problems
        else:
            db.session.commit()
            session[DRAFT_KEY] = draft.id
            session.pop(DONE_KEY, None)
            return redirect(url_for("annual.page", link_code=link.code, page_number=1))
    return _no_store(
        (
            render_template(
                "annual/start.html",
                link=link,
                definition=definition,
                minutes=estimated_minutes(definition, current_locale_code()),
                idle_minutes=current_app.config["ANNUAL_DRAFT_IDLE_MINUTES"],
                text=_texts(link.unit),
                problems=problems,
            ),
            422 if problems else 200,
        )
    )


def _definition_of(draft) -> Definition:
    found = find_questionnaire_version(draft.questionnaire_key, draft.version)
    if found is None:  # a version is never deleted while drafts exist; be safe anyway
        raise DraftExpired("the questionnaire changed")
    return found[1]


@bp.route("/a/<link_code>/page/<int:page_number>", methods=["GET", "POST"])
def page(link_code: str, page_number: int):
    """One page of the annual form: GET shows it with the kept answers; POST checks and keeps
    this page's answers, then goes on, back, or (on the last page) submits the whole form."""
    link = get_active_link(link_code)
    draft_id = session.get(DRAFT_KEY)
    try:
        draft = get_draft(draft_id, link, idle=_idle())
        definition = _definition_of(draft)
    except DraftExpired:
        db.session.commit()  # an idle draft was deleted
        if session.get(DONE_KEY) == link.code:
            return redirect(url_for("annual.thanks", link_code=link.code))
        if draft_id is None:
            return redirect(url_for("annual.start", link_code=link.code))
        session.pop(DRAFT_KEY, None)
        return render_template("annual/expired.html", link=link), 410
    form_page = get_page(definition, page_number)
    if form_page is None:
        abort(404)
    page_keys = [form_page.page.key]
    locale = current_locale_code()
    place = link.unit.place_name(locale)
    earlier = {k: v for k, v in draft.answers.items() if k not in form_page.keys}
    if request.method == "POST":
        reading = read_form(
            definition,
            request.form,
            page_keys=page_keys,
            previous=earlier,
            locale=locale,
            place_name=place,
        )
        problems = reading.errors
        # Kept whatever the button, problems included, so that nothing typed is lost.
        save_draft_answers(draft, form_page.keys, reading.values)
        db.session.commit()
        if request.form.get("nav") == "back":
            return redirect(
                url_for("annual.page", link_code=link.code, page_number=max(1, page_number - 1))
            )
        if not problems:
            if not form_page.is_last:
                return redirect(
                    url_for("annual.page", link_code=link.code, page_number=page_number + 1)
                )
            return _submit(link, draft)
    else:
        problems = check_kept_answers(
            definition,
            draft.answers,
            page_keys=page_keys,
            previous=earlier,
            locale=locale,
            place_name=place,
        )
    view = build_form(
        definition,
        locale=locale,
        place_name=place,
        page_keys=page_keys,
        values=draft.answers,
        errors=problems,
    )
    return _no_store(
        (
            render_template(
                "annual/page.html",
                link=link,
                page=form_page,
                form=view,
            ),
            422 if problems and request.method == "POST" else 200,
        )
    )


def _submit(link: AnnualLink, draft):
    """Store the finished form; a problem on another page sends the household back to it."""
    draft_id = draft.id
    try:
        submit_draft(
            draft,
            link,
            locale=current_locale_code(),
            policy=SubmissionPolicy.from_config(current_app.config),
        )
    except SampleCodeUsed:
        db.session.rollback()
        session.pop(DRAFT_KEY, None)
        return render_template("annual/already_answered.html", link=link), 200
    except ValidationError as error:
        # A kept answer with a problem: its page names it (check_kept_answers).
        db.session.rollback()
        first_bad = _first_page_with_problem(_definition_of(draft), error.problems)
        return redirect(url_for("annual.page", link_code=link.code, page_number=first_bad))
    db.session.commit()
    if session.get(DRAFT_KEY) == draft_id:
        session.pop(DRAFT_KEY, None)
    session[DONE_KEY] = link.code
    return redirect(url_for("annual.thanks", link_code=link.code))


def _first_page_with_problem(definition: Definition, problems: dict[str, list[str]]) -> int:
    keys = {k.removeprefix("answers.") for k in problems}
    for number, page_ in enumerate(definition.pages, start=1):
        if keys & set(page_.questions):
            return number
    return 1


@bp.get("/a/<link_code>/thanks")
def thanks(link_code: str):
    """Thank-you page after the form was stored."""
    link = get_active_link(link_code)
    return render_template("annual/thanks.html", link=link)


# --- staff: links, sample codes, response rates --------------------------------------------------


def _local_year() -> int:
    return utcnow().astimezone(ZoneInfo(current_app.config["LOCAL_TIMEZONE"])).year


def _asked_year() -> int:
    try:
        return check_year(request.values.get("year", "") or _local_year())
    except ValidationError:
        return _local_year()


@bp.get("/staff/annual")
@staff_required
def overview():
    """Response rates of the annual survey per unit in scope, for a year."""
    year = _asked_year()
    units = list_units_in_scope(current_access())
    managed = {u.id for u in list_units_in_scope(current_access(), manage=True)}
    return render_template(
        "annual/overview.html",
        year=year,
        rates=list_response_rates(units, year),
        managed=managed,
    )


def _qr_svg(url: str) -> Markup:
    # segno writes the SVG from the URL alone (no user text): safe to inline.
    return Markup(segno.make(url, error="m").svg_inline(scale=4, border=2))


def _render_unit(unit: Unit, year: int, problems=None, status: int = 200):
    links = list_links([unit.id])
    urls = {link.id: public_url("annual.start", link_code=link.code) for link in links}
    return (
        render_template(
            "annual/unit.html",
            unit=unit,
            year=year,
            links=links,
            urls=urls,
            qr={link.id: _qr_svg(urls[link.id]) for link in links if link.revoked_at is None},
            rate=list_response_rates([unit], year)[0],
            problems=problems or {},
            local_time=local_time,
        ),
        status,
    )


@bp.get("/staff/annual/units/<int:unit_id>")
@manager_required
def unit(unit_id: int):
    """A unit's annual links (URL and QR code), sample import and sent/returned marking."""
    found = get_unit_in_scope(current_access(), unit_id, manage=True)
    return _render_unit(found, _asked_year())


@bp.post("/staff/annual/units/<int:unit_id>/links")
@manager_required
def link_create(unit_id: int):
    """Create a public link to the unit's online annual form for a year."""
    found = get_unit_in_scope(current_access(), unit_id, manage=True)
    try:
        link = create_link(
            found,
            request.form.get("year", ""),
            requires_sample_code=request.form.get("requires_sample_code") == "1",
        )
    except ValidationError as error:
        db.session.rollback()
        return _render_unit(found, _asked_year(), error.problems, 422)
    audit(
        "annual.link_create",
        unit_id=found.id,
        year=link.year,
        link_id=link.id,
        requires_sample_code=link.requires_sample_code,
    )
    db.session.commit()
    flash(_("Link created."), "info")
    return redirect(url_for("annual.unit", unit_id=found.id, year=link.year))


@bp.post("/staff/annual/units/<int:unit_id>/links/revoke")
@manager_required
def link_revoke(unit_id: int):
    """Revoke one of the unit's links (it stops working at once; stored answers stay)."""
    found = get_unit_in_scope(current_access(), unit_id, manage=True)
    if not request.form.get("link_id"):
        return _render_unit(found, _asked_year(), {"link_id": [_("Choose a link.")]}, 422)
    link = get_link_in_units(request.form.get("link_id"), [found.id])
    revoke_link(link)
    audit("annual.link_revoke", unit_id=found.id, year=link.year, link_id=link.id)
    db.session.commit()
    flash(_("Link revoked."), "info")
    return redirect(url_for("annual.unit", unit_id=found.id, year=link.year))


def _uploaded_text() -> str:
    upload = request.files.get("file")
    if upload and upload.filename:
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationError({"file": ["is not UTF-8 text"]}) from None
    return request.form.get("text", "")


@bp.post("/staff/annual/units/<int:unit_id>/codes")
@accepts_upload
@manager_required
def codes_import(unit_id: int):
    """Import the unit's sampled households or dossiers for a year (CSV code[,kind])."""
    found = get_unit_in_scope(current_access(), unit_id, manage=True)
    try:
        year = check_year(request.form.get("year", ""))
        summary = import_sample_codes(found, year, _uploaded_text())
    except ValidationError as error:
        db.session.rollback()
        return _render_unit(found, _asked_year(), error.problems, 422)
    audit(
        "annual.sample_import",
        unit_id=found.id,
        year=year,
        added=summary.added,
        unchanged=summary.unchanged,
    )
    db.session.commit()
    flash(
        _("%(added)s codes added, %(unchanged)s already there.", **summary.__dict__),
        "info",
    )
    return redirect(url_for("annual.unit", unit_id=found.id, year=year))


@bp.post("/staff/annual/units/<int:unit_id>/marks")
@accepts_upload
@manager_required
def codes_mark(unit_id: int):
    """Mark listed codes as sent (forms went out) or returned (forms came back)."""
    found = get_unit_in_scope(current_access(), unit_id, manage=True)
    what = request.form.get("what", "")
    try:
        year = check_year(request.form.get("year", ""))
        changed = mark_sample_codes(found, year, _uploaded_text(), what)
    except ValidationError as error:
        db.session.rollback()
        return _render_unit(found, _asked_year(), error.problems, 422)
    audit("annual.sample_mark", unit_id=found.id, year=year, what=what, changed=changed)
    db.session.commit()
    flash(_("%(n)s codes marked.", n=changed), "info")
    return redirect(url_for("annual.unit", unit_id=found.id, year=year))
