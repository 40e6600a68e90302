"""GET /api/v1/figures: the dashboard's figures as JSON, for staff sessions and API keys."""

from flask import Blueprint, abort, request
from flask_login import current_user

from survey_app.extensions import csrf, db
from survey_app.models import Unit
from survey_app.services.access import Access, list_units_in_scope, top_units_in_scope
from survey_app.services.api_keys import authenticate_api_key
from survey_app.services.exports import json_safe
from survey_app.services.figures import Figure, FigureBuilder, UnitFigures
from survey_app.services.units import find_unit_by_code
from survey_app.web.auth import current_access
from survey_app.web.dashboard_filters import parse_dashboard_query

bp = Blueprint("api_figures", __name__, url_prefix="/api/v1")
csrf.exempt(bp)


def request_access() -> Access:
    """A staff session, or `Authorization: Bearer <API key>` for purpose read_figures; else 401."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        key = authenticate_api_key(header.removeprefix("Bearer ").strip(), "read_figures")
        if key is None:
            abort(401, description="the API key is unknown, revoked, or not for reading figures")
        db.session.commit()  # last_used_at
        return Access.for_units([key.unit])
    if current_user.is_authenticated:
        return current_access()
    abort(401, description="sign in, or send an API key: Authorization: Bearer sk_…")


def unit_from_query(access: Access) -> Unit:
    """The unit named by `?unit=<code>` (a former code works too), or the top of the caller's
    scope; 404 when it is unknown or outside the scope."""
    code = request.args.get("unit")
    if code:
        unit = find_unit_by_code(code)
        if unit is None or not access.covers(unit):
            abort(404, description=f"no unit {code[:60]!r} here")
        return unit
    roots = top_units_in_scope(access)
    if not roots:
        abort(404, description="no unit in your scope")
    return roots[0]


def figure_json(figure: Figure) -> dict:
    shown = figure.shown
    return {
        "n": figure.n,
        "estimate": figure.estimate if shown else None,
        "low": figure.low if shown else None,
        "high": figure.high if shown else None,
        "method": figure.method if shown else None,
        "verdict": figure.verdict.value if figure.verdict and shown else None,
        "more_responses": figure.more_responses if shown else None,
        "suppressed": figure.suppressed,
    }


def unit_json(row: UnitFigures) -> dict:
    return {
        "unit": row.unit.code,
        "name_vi": row.unit.name_vi,
        "name_en": row.unit.name_en,
        "respondents": row.respondents,
        "incomplete": row.incomplete,
        "headline": figure_json(row.headline),
        "factors": {key: figure_json(f) for key, f in row.factors.items()},
        "target": {
            "threshold": row.target.threshold,
            "comparison": row.target.comparison,
            "source_document": row.target.source_document,
        },
        "previous": figure_json(row.previous) if row.previous else None,
        "change": {
            "estimate": row.change.estimate,
            "low": row.change.low,
            "high": row.change.high,
            "significant": row.change.significant,
        }
        if row.change
        else None,
        "below_target": row.below_target,
    }


@bp.get("/figures")
def figures():
    """Figures for a unit and every unit below it in scope (query: unit, period, questionnaire,
    channel, staff, start, end)."""
    access = request_access()
    query = parse_dashboard_query(request.args)
    if query.problems:
        abort(400, description="; ".join(query.problems))
    root = unit_from_query(access)
    units = [u for u in list_units_in_scope(access) if u.path.startswith(root.path)]
    builder = FigureBuilder(units, query.filters, live=True)
    rows = builder.for_units()
    period = query.filters.period
    answer = {
        "unit": root.code,
        "questionnaire": query.filters.questionnaire_key,
        "period": {
            "kind": query.period_kind,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
        },
        "channels": list(query.filters.channels),
        "staff_entered_included": query.filters.include_staff_entered,
        "confidence": query.filters.confidence,
        "min_n": query.filters.min_n,
        "interval_method": "wilson for shares; respondent-clustered logit for indices",
        # Responses acknowledged but not yet in these figures (settled in the background).
        "pending": {
            "responses": builder.unsettled.count,
            "received_since": builder.unsettled.oldest.isoformat()
            if builder.unsettled.oldest
            else None,
        },
        "units": [unit_json(row) for row in rows],
        "alerts": [
            row.unit.code
            for row in rows
            if row.below_target or (row.change and row.change.high < 0)
        ],
    }
    return json_safe(answer)  # names as every export writes them


# Declared for the authorisation walk: a signed-in staff member (any role), or an API key.
figures.required_role = "staff"
