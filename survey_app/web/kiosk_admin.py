"""Staff pages for kiosks: create one (with its one-time enrolment link and QR code), see every
kiosk in the managed scope, revoke one, issue a new enrolment link; officers sign in to a counter
(duty); managers see per-officer figures.

Every id posted in a form is resolved through the account's scope: another unit's kiosk or
counter is a 404 and changes nothing.
"""

import base64

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
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import Counter, Kiosk, Unit
from survey_app.services.access import get_counter_in_scope, get_unit_in_scope, list_units_in_scope
from survey_app.services.kiosks import (
    KIOSK_QUESTIONNAIRES,
    create_kiosk,
    current_duty_of,
    end_duty,
    get_kiosk,
    kiosk_status,
    list_kiosks,
    new_enrolment_link,
    officer_figures,
    revoke_kiosk,
    start_duty,
)
from survey_app.web.admin_forms import text_field
from survey_app.web.auth import (
    audit,
    current_access,
    manager_required,
    officer_required,
    staff_required,
)
from survey_app.web.helpers import apply_problems, current_locale_code, local_time, public_url

bp = Blueprint("kiosk_admin", __name__, url_prefix="/staff")

STATUS_LABELS = {
    "active": _l("In use"),
    "waiting": _l("Waiting for enrolment"),
    "revoked": _l("Revoked"),
}


class KioskForm(FlaskForm):
    counter = SelectField(_l("Counter"), validators=[DataRequired()], validate_choice=False)
    questionnaire = SelectField(
        _l("Questionnaire"),
        choices=[SelectChoice(k, k) for k in KIOSK_QUESTIONNAIRES],
        validators=[DataRequired()],
    )
    name = text_field(_l("Name of the tablet"), DataRequired(), Length(max=200))


class KioskButtonForm(FlaskForm):
    """Revoke / new link: the kiosk id (resolved through the scope) and the CSRF token."""

    kiosk = StringField(validators=[DataRequired()])


class DutyForm(FlaskForm):
    counter = SelectField(_l("Counter"), validators=[DataRequired()], validate_choice=False)


class EndDutyForm(FlaskForm):
    pass


@bp.context_processor
def _helpers():
    return {"local_time": local_time, "status_labels": STATUS_LABELS, "kiosk_status": kiosk_status}


def _counters_in_scope(*, manage: bool = False, serve: bool = False) -> list[Counter]:
    units = [
        u for u in list_units_in_scope(current_access(), manage=manage, serve=serve) if u.active
    ]
    if not units:
        return []
    order = {u.id: i for i, u in enumerate(units)}
    counters = db.session.scalars(
        select(Counter).where(Counter.unit_id.in_(order), Counter.active.is_(True))
    )
    return sorted(counters, key=lambda c: (order[c.unit_id], c.code))


def _counter_choices(counters: list[Counter]) -> list[tuple[str, str]]:
    locale = current_locale_code()
    return [
        SelectChoice(
            str(c.id), f"{c.unit.name(locale)} ({c.unit.code}) – {c.name(locale)} ({c.code})"
        )
        for c in counters
    ]


def _counter_from_field(value: str | None, *, manage: bool = False, serve: bool = False) -> Counter:
    if not value or not value.isdigit():
        raise NotFound(f"no counter {value!r} here")
    return get_counter_in_scope(current_access(), int(value), manage=manage, serve=serve)


def _kiosk_from_field() -> Kiosk:
    form = KioskButtonForm()
    if not form.validate_on_submit() or not form.kiosk.data.isdigit():
        abort(400, description="choose a kiosk")
    return get_kiosk(int(form.kiosk.data), current_access().unit_filter(manage=True))


def _enrolment_url(token: str) -> str:
    return public_url("kiosk.enrol_page", token=token)


def _qr_data_uri(url: str) -> str:
    svg = segno.make(url, error="m").svg_inline(scale=6, border=2, dark="#000", light="#fff")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _render_list(form: KioskForm, status: int = 200):
    kiosks = list_kiosks(current_access().unit_filter(manage=True))
    return render_template(
        "kiosk/admin_list.html", kiosks=kiosks, form=form, button=KioskButtonForm()
    ), status


def _kiosk_form(formdata=None) -> KioskForm:
    form = KioskForm(formdata=formdata) if formdata is not None else KioskForm(formdata=None)
    form.counter.choices = _counter_choices(_counters_in_scope(manage=True))
    return form


def _render_link(kiosk: Kiosk, token: str):
    url = _enrolment_url(token)
    response = make_response(
        render_template(
            "kiosk/admin_link.html",
            kiosk=kiosk,
            url=url,
            qr=_qr_data_uri(url),
            hours=current_app.config["KIOSK_ENROLMENT_HOURS"],
        )
    )
    # The link is shown on this response only (only its hash is stored): never cached.
    response.headers["Cache-Control"] = "no-store"
    return response


# --- kiosks ---------------------------------------------------------------------------------------


@bp.get("/kiosks/")
@manager_required
def kiosks():
    """Every kiosk in the managed scope (last seen, app version, queue, last submission) and a
    form to create one."""
    return _render_list(_kiosk_form())


@bp.post("/kiosks/")
@manager_required
def kiosk_create():
    """Create a kiosk for a counter and show its one-time enrolment link and QR code."""
    form = _kiosk_form(formdata=request.form)
    if not form.validate_on_submit():
        return _render_list(form, 422)
    counter = _counter_from_field(form.counter.data, manage=True)
    try:
        kiosk, token = create_kiosk(
            counter=counter,
            questionnaire_key=form.questionnaire.data,
            name=form.name.data,
            created_by=current_user,
            enrolment_hours=current_app.config["KIOSK_ENROLMENT_HOURS"],
        )
    except ValidationError as error:
        db.session.rollback()
        apply_problems(form, error.problems)
        return _render_list(form, 422)
    audit(
        "kiosk.create",
        unit_id=kiosk.unit_id,
        kiosk_id=kiosk.id,
        counter_id=kiosk.counter_id,
        questionnaire=kiosk.questionnaire_key,
        name=kiosk.name,
    )
    db.session.commit()
    return _render_link(kiosk, token)


@bp.post("/kiosks/enrolment-link")
@manager_required
def kiosk_new_link():
    """A new one-time enrolment link for a kiosk (a replaced tablet, or after a revocation)."""
    kiosk = _kiosk_from_field()
    token = new_enrolment_link(kiosk, hours=current_app.config["KIOSK_ENROLMENT_HOURS"])
    audit("kiosk.enrolment_link", unit_id=kiosk.unit_id, kiosk_id=kiosk.id)
    db.session.commit()
    return _render_link(kiosk, token)


@bp.post("/kiosks/revoke")
@manager_required
def kiosk_revoke():
    """Revoke a kiosk: its submissions are refused from now on, and the tablet says it needs
    enrolling again (what it still holds stays queued on it)."""
    kiosk = _kiosk_from_field()
    revoke_kiosk(kiosk)
    audit("kiosk.revoke", unit_id=kiosk.unit_id, kiosk_id=kiosk.id, name=kiosk.name)
    db.session.commit()
    flash(_("The kiosk %(name)s was revoked.", name=kiosk.name), "info")
    return redirect(url_for(".kiosks"))


# --- officer on duty ------------------------------------------------------------------------------


def _render_duty(form: DutyForm, status: int = 200):
    duty = current_duty_of(current_user)
    return render_template("kiosk/duty.html", form=form, duty=duty, end_form=EndDutyForm()), status


def _duty_form(formdata=None) -> DutyForm:
    form = DutyForm(formdata=formdata) if formdata is not None else DutyForm(formdata=None)
    form.counter.choices = _counter_choices(_counters_in_scope(serve=True))
    return form


@bp.get("/duty")
@officer_required
def duty():
    """The officer serving at a counter signs in to it from their own account: ratings given at
    that counter's kiosk are then attributed to them, and the kiosk shows their name and title."""
    return _render_duty(_duty_form())


@bp.post("/duty")
@officer_required
def duty_start():
    """Start serving at a counter of a unit the account serves (officers and managers only: a
    viewer's duty would end the serving officer's and take the ratings)."""
    form = _duty_form(formdata=request.form)
    if not form.validate_on_submit():
        return _render_duty(form, 422)
    counter = _counter_from_field(form.counter.data, serve=True)
    duty = start_duty(current_user, counter)
    audit("duty.start", unit_id=counter.unit_id, counter_id=counter.id, duty_id=duty.id)
    db.session.commit()
    flash(
        _("You are now serving at %(counter)s.", counter=counter.name(current_locale_code())),
        "info",
    )
    return redirect(url_for(".duty"))


@bp.post("/duty/end")
@staff_required
def duty_end():
    """End one's own duty (allowed to anyone who has one, e.g. after losing the officer role)."""
    if not EndDutyForm().validate_on_submit():
        abort(400)
    duty = end_duty(current_user)
    if duty is not None:
        audit("duty.end", unit_id=duty.counter.unit_id, counter_id=duty.counter_id, duty_id=duty.id)
        db.session.commit()
        flash(_("Your duty at the counter has ended."), "info")
    return redirect(url_for(".duty"))


# --- per-officer figures --------------------------------------------------------------------------


@bp.get("/kiosks/officers")
@manager_required
def officers():
    """Per officer: n and the share satisfied with its 95 % interval, only above MIN_N."""
    units = [u for u in list_units_in_scope(current_access(), manage=True)]
    asked = request.args.get("unit", "")
    unit: Unit | None = None
    if asked.isdigit():
        unit = get_unit_in_scope(current_access(), int(asked), manage=True)
    elif units:
        unit = units[0]
    min_n = current_app.config["MIN_N"]
    figures = officer_figures(unit, min_n=min_n) if unit is not None else []
    return render_template(
        "kiosk/officers.html", units=units, unit=unit, figures=figures, min_n=min_n
    )
