"""Counter posters for staff: list, create, revoke and reissue poster codes per unit and counter
(managers, within their subtrees), print them on A4 one by one or a whole unit at once, and
download a poster's QR code as SVG or PNG. Every change is a CSRF-protected, audited POST."""

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import PosterCode, Unit
from survey_app.services.access import get_counter_in_scope, get_unit_in_scope, list_units_in_scope
from survey_app.services.qr_codes import (
    create_poster_code,
    ensure_unit_posters,
    list_unit_posters,
    qr_png,
    qr_svg,
    reissue_poster_code,
    revoke_poster_code,
)
from survey_app.web.auth import audit, current_access, manager_required
from survey_app.web.helpers import public_url

bp = Blueprint("qr_admin", __name__, url_prefix="/staff/posters")


class ButtonForm(FlaskForm):
    """A one-button POST: only the CSRF token."""


def _require_button() -> None:
    if not ButtonForm().validate_on_submit():
        abort(400)


def _poster_in_scope(poster_id: int) -> PosterCode:
    poster = db.session.get(PosterCode, poster_id)
    if poster is None or not current_access().covers(poster.unit, manage=True):
        raise NotFound(f"no poster {poster_id} here")
    return poster


def _poster_url(poster: PosterCode) -> str:
    return public_url("qr.poster_form", poster_code=poster.code)


def _both_languages(message: str) -> dict[str, str]:
    """A poster speaks Vietnamese and English at once, whatever the staff member reads in."""
    texts = {}
    for locale in ("vi", "en"):
        with force_locale(locale):
            texts[locale] = _(message)
    return texts


def _poster_view(poster: PosterCode) -> dict:
    url = _poster_url(poster)
    return {"poster": poster, "url": url, "svg": qr_svg(url)}


@bp.get("")
@manager_required
def index():
    """The units the account manages, each with its active posters."""
    units = [u for u in list_units_in_scope(current_access(), manage=True)]
    base = min((u.path.count("/") for u in units), default=0)
    counts = {unit.id: len(list_unit_posters(unit, include_revoked=False)) for unit in units}
    rows = [(u, u.path.count("/") - base, counts[u.id]) for u in units]
    return render_template("qr/staff_index.html", rows=rows)


@bp.get("/units/<int:unit_id>")
@manager_required
def unit_posters(unit_id: int):
    """One unit's poster codes (active and revoked), per counter, with their actions."""
    unit = get_unit_in_scope(current_access(), unit_id, manage=True)
    return render_template(
        "qr/staff_unit.html",
        unit=unit,
        posters=list_unit_posters(unit),
        counters=sorted(unit.counters, key=lambda c: c.code),
        button=ButtonForm(formdata=None),
        poster_url=_poster_url,
    )


@bp.post("/units/<int:unit_id>/create")
@manager_required
def create(unit_id: int):
    """A new poster code for the unit, or for one of its counters (field counter_id)."""
    unit = get_unit_in_scope(current_access(), unit_id, manage=True)
    _require_button()
    counter = None
    counter_id = request.form.get("counter_id", "")
    if counter_id:
        if not counter_id.isdigit():
            abort(400)
        counter = get_counter_in_scope(current_access(), int(counter_id), manage=True)
        if counter.unit_id != unit.id:
            raise NotFound(f"no counter {counter_id} in this unit")
    poster = create_poster_code(unit, counter, created_by=current_user)
    audit(
        "poster.create",
        unit_id=unit.id,
        poster_id=poster.id,
        code=poster.code,
        counter=counter.code if counter else None,
    )
    db.session.commit()
    flash(_("Poster code %(code)s created.", code=poster.code), "info")
    return redirect(url_for(".unit_posters", unit_id=unit.id))


@bp.post("/units/<int:unit_id>/create-all")
@manager_required
def create_all(unit_id: int):
    """A poster for the unit and for each active counter that has none yet."""
    unit = get_unit_in_scope(current_access(), unit_id, manage=True)
    _require_button()
    if not unit.active:
        raise ValidationError({"unit": [_("This unit does not take responses now.")]})
    for poster in ensure_unit_posters(unit, created_by=current_user):
        audit(
            "poster.create",
            unit_id=unit.id,
            poster_id=poster.id,
            code=poster.code,
            counter=poster.counter.code if poster.counter else None,
        )
    db.session.commit()
    return redirect(url_for(".unit_posters", unit_id=unit.id))


@bp.post("/<int:poster_id>/revoke")
@manager_required
def revoke(poster_id: int):
    """Revoke a poster code: printed copies stop working at once."""
    poster = _poster_in_scope(poster_id)
    _require_button()
    revoke_poster_code(poster)
    audit("poster.revoke", unit_id=poster.unit_id, poster_id=poster.id, code=poster.code)
    db.session.commit()
    flash(_("Poster code %(code)s revoked.", code=poster.code), "info")
    return redirect(url_for(".unit_posters", unit_id=poster.unit_id))


@bp.post("/<int:poster_id>/reissue")
@manager_required
def reissue(poster_id: int):
    """Revoke a poster code and create its replacement (same unit, counter, questionnaire)."""
    poster = _poster_in_scope(poster_id)
    _require_button()
    new = reissue_poster_code(poster, created_by=current_user)
    audit("poster.revoke", unit_id=poster.unit_id, poster_id=poster.id, code=poster.code)
    audit(
        "poster.create",
        unit_id=new.unit_id,
        poster_id=new.id,
        code=new.code,
        replaces=poster.code,
    )
    db.session.commit()
    flash(_("Poster code %(old)s replaced by %(new)s.", old=poster.code, new=new.code), "info")
    return redirect(url_for(".unit_posters", unit_id=poster.unit_id))


def _render_print(unit: Unit, posters: list[PosterCode]):
    return render_template(
        "qr/poster_print.html",
        unit=unit,
        posters=[_poster_view(p) for p in posters],
        invitation=_both_languages("Please rate our service"),
        instruction=_both_languages(
            "Scan this QR code with your phone's camera or Zalo. It takes two minutes, "
            "no sign-in, and your answers are anonymous."
        ),
        or_open=_both_languages("or open"),
    )


@bp.get("/<int:poster_id>/print")
@manager_required
def print_poster(poster_id: int):
    """One poster on A4, to print."""
    poster = _poster_in_scope(poster_id)
    return _render_print(poster.unit, [poster])


@bp.get("/units/<int:unit_id>/print")
@manager_required
def print_unit(unit_id: int):
    """Every active poster of a unit, one A4 page each."""
    unit = get_unit_in_scope(current_access(), unit_id, manage=True)
    return _render_print(unit, list_unit_posters(unit, include_revoked=False))


@bp.get("/<int:poster_id>/qr.svg")
@manager_required
def poster_svg(poster_id: int):
    """The poster's QR code as an SVG file."""
    poster = _poster_in_scope(poster_id)
    return Response(
        qr_svg(_poster_url(poster), inline=False),
        mimetype="image/svg+xml",
        headers={"Content-Disposition": f'attachment; filename="poster-{poster.code}.svg"'},
    )


@bp.get("/<int:poster_id>/qr.png")
@manager_required
def poster_png(poster_id: int):
    """The poster's QR code as a PNG file."""
    poster = _poster_in_scope(poster_id)
    return Response(
        qr_png(_poster_url(poster), scale=16),
        mimetype="image/png",
        headers={"Content-Disposition": f'attachment; filename="poster-{poster.code}.png"'},
    )
