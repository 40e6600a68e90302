"""Staff keying paper and interviewer forms (sipas-annual, sipas-counter): a keyboard-first entry
screen, optional double entry by a second clerk, and the list of differences between rounds.

Keying data is a change: managers only, for the units they manage.
"""

from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from survey_app.errors import ValidationError
from survey_app.extensions import db
from survey_app.services.access import get_unit_in_scope, list_units_in_scope
from survey_app.services.annual import (
    PAPER_CHANNELS,
    PAPER_QUESTIONNAIRES,
    REVIEW_ACTION,
    DuplicateSerial,
    check_year,
    duplicate_serial_error,
    enter_paper_form,
    enter_second_round,
    get_second_entry_in_units,
    list_double_entries,
    read_keyed_answers,
)
from survey_app.services.questionnaires import get_current_questionnaire
from survey_app.services.submissions import SubmissionPolicy
from survey_app.timeutil import utcnow
from survey_app.web.auth import audit, current_access, manager_required
from survey_app.web.helpers import local_time

bp = Blueprint("paper_entry", __name__, url_prefix="/staff/entry")


def _local_year() -> int:
    return utcnow().astimezone(ZoneInfo(current_app.config["LOCAL_TIMEZONE"])).year


def _duplicate_message(error: DuplicateSerial) -> str:
    return _(
        "Form no. %(serial)s of %(year)s was already entered by %(username)s at %(time)s.",
        serial=error.serial,
        year=error.year,
        username=error.username,
        time=local_time(error.at),
    )


def _settings() -> dict[str, str]:
    """What the screen is set to (from the query or the posted form): kept after each save."""
    values = request.values
    questionnaire = values.get("questionnaire", PAPER_QUESTIONNAIRES[0])
    channel = values.get("channel", PAPER_CHANNELS[0])
    return {
        "questionnaire": questionnaire if questionnaire in PAPER_QUESTIONNAIRES else "sipas-annual",
        "channel": channel if channel in PAPER_CHANNELS else "paper_entry",
        "round": "2" if values.get("round") == "2" else "1",
        "unit_id": values.get("unit_id", ""),
        "year": values.get("year", "") or str(_local_year()),
        "interviewer_name": values.get("interviewer_name", ""),
    }


@bp.route("", methods=["GET", "POST"])
@manager_required
def entry():
    """Key one paper or interviewer form: unit, year, serial, then one field per question."""
    settings = _settings()
    units = list_units_in_scope(current_access(), manage=True)
    _questionnaire, definition = get_current_questionnaire(settings["questionnaire"])
    problems: dict[str, list[str]] = {}
    if request.method == "POST":
        problems = _store(settings, definition)
        if not problems:
            serial = request.form.get("serial", "").strip()
            flash(_("Form no. %(serial)s saved.", serial=serial), "info")
            return redirect(url_for("paper_entry.entry") + "?" + urlencode(settings))
    return (
        render_template(
            "annual/entry.html",
            settings=settings,
            units=units,
            definition=definition,
            problems=problems,
            values=request.form if problems else {},
            channel_labels={
                "paper_entry": _("Paper form"),
                "interviewer": _("Interviewer form"),
            },
        ),
        422 if problems else 200,
    )


def _store(settings: dict[str, str], definition) -> dict[str, list[str]]:
    """Store the posted form; the problems to show next to the fields (empty when stored)."""
    form = request.form
    serial = form.get("serial", "")
    answers, problems = read_keyed_answers(definition, form)
    try:
        year = check_year(settings["year"])
    except ValidationError as error:
        problems.update(error.problems)
        year = None
    unit = None
    if not settings["unit_id"]:
        problems["unit_id"] = [_("Choose the unit.")]
    else:
        # Another unit's id is a 404 (NotFound), like every id outside the scope, in both rounds.
        unit = get_unit_in_scope(current_access(), _as_int(settings["unit_id"]), manage=True)
    if problems:
        return problems
    try:
        if settings["round"] == "1":
            entry = enter_paper_form(
                questionnaire_key=definition.key,
                unit=unit,
                year=year,
                serial=serial,
                channel=settings["channel"],
                interviewer_name=settings["interviewer_name"],
                answers=answers,
                account=current_user,
                policy=SubmissionPolicy.from_config(current_app.config),
            )
        else:
            entry = enter_second_round(
                unit=unit, year=year, serial=serial, answers=answers, account=current_user
            )
    except DuplicateSerial as error:
        db.session.rollback()
        return {"serial": [_duplicate_message(error)]}
    except IntegrityError:  # another clerk saved the same serial a moment ago
        db.session.rollback()
        error = duplicate_serial_error(unit.id, year, serial, int(settings["round"]))
        if error is None:
            raise
        return {"serial": [_duplicate_message(error)]}
    except ValidationError as error:
        db.session.rollback()
        return {k.removeprefix("answers."): v for k, v in error.problems.items()}
    audit(
        "paper.enter",
        unit_id=entry.unit_id,
        serial=entry.serial,
        year=entry.year,
        entry_round=entry.entry_round,
        questionnaire=entry.questionnaire_key,
        channel=settings["channel"] if entry.entry_round == 1 else None,
    )
    db.session.commit()
    return {}


def _as_int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0


@bp.get("/differences")
@manager_required
def differences():
    """Forms keyed twice in a year: the answers where the two clerks differ."""
    try:
        year = check_year(request.args.get("year", "") or _local_year())
    except ValidationError:
        year = _local_year()
    unit_ids = [u.id for u in list_units_in_scope(current_access(), manage=True)]
    return render_template(
        "annual/differences.html", year=year, entries=list_double_entries(unit_ids, year)
    )


@bp.post("/differences/review")
@manager_required
def review():
    """Mark a double-entered form's differences reviewed, keeping the round 1 answers."""
    serial = request.form.get("serial", "").strip()
    unit_id = _as_int(request.form.get("unit_id", ""))
    try:
        year = check_year(request.form.get("year", ""))
    except ValidationError as error:
        return render_template(
            "error.html", status=422, title=_("Check the form"), problems=error.problems
        ), 422
    if not serial:
        return render_template(
            "error.html",
            status=422,
            title=_("Check the form"),
            problems={"serial": [_("Choose a form.")]},
        ), 422
    unit_ids = [u.id for u in list_units_in_scope(current_access(), manage=True)]
    entry = get_second_entry_in_units(unit_id, year, serial, unit_ids)
    audit(REVIEW_ACTION, unit_id=entry.unit_id, serial=serial, year=year, decision="round1_kept")
    db.session.commit()
    flash(_("Form no. %(serial)s marked reviewed.", serial=serial), "info")
    return redirect(url_for("paper_entry.differences", year=year))
