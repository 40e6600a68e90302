"""The staff dashboard: satisfaction per unit and counter within the account's scope, live."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from survey_app.extensions import db
from survey_app.services.access import (
    get_counter_in_scope,
    get_unit_in_scope,
    list_units_in_scope,
    top_units_in_scope,
)
from survey_app.services.comments import list_comments, set_comment_hidden
from survey_app.services.figures import FigureBuilder, monthly_trend
from survey_app.services.units import list_subtree_unit_ids
from survey_app.web.auth import audit, current_access, manager_required, staff_required
from survey_app.web.dashboard_filters import (
    CHANNEL_LABELS,
    DASHBOARD_QUESTIONNAIRES,
    PERIOD_LABELS,
    parse_dashboard_query,
)
from survey_app.web.helpers import current_locale_code

bp = Blueprint("dashboard", __name__, url_prefix="/staff")

SORT_KEYS = {
    "tree": None,
    "headline": lambda f: (f.headline.estimate is None, -(f.headline.estimate or 0)),
    "low": lambda f: (f.headline.low is None, -(f.headline.low or 0)),
    "n": lambda f: -f.respondents,
    "change": lambda f: (f.change is None, f.change.estimate if f.change else 0),
}


def factor_points(definition, figures) -> list[tuple]:
    """(key, label, estimate, low, high) per factor, for the factor profile chart."""
    locale = current_locale_code()
    points = []
    for factor in definition.factors:
        figure = figures.factors.get(factor.key)
        if figure is not None:
            shown = figure.shown
            points.append(
                (
                    factor.key,
                    f"{factor.key}. {factor.label.get(locale)}",
                    figure.estimate if shown else None,
                    figure.low if shown else None,
                    figure.high if shown else None,
                )
            )
    return points


def trend_points(trend) -> list[tuple]:
    """(label, estimate, low, high, n) per month, for the trend chart."""
    return [
        (
            p.label,
            p.figure.estimate if p.figure.shown else None,
            p.figure.low if p.figure.shown else None,
            p.figure.high if p.figure.shown else None,
            p.figure.n,
        )
        for p in trend
    ]


def _common_context(query, **extra):
    from survey_app.web import charts

    return {
        "factor_points": factor_points,
        "query": query,
        "period_labels": PERIOD_LABELS,
        "channel_labels": CHANNEL_LABELS,
        "questionnaire_keys": DASHBOARD_QUESTIONNAIRES,
        "charts": charts,
        **extra,
    }


def overview_figures(root, query, sort: str):
    """The root and every unit below it in scope, each rolled up over its subtree."""
    access = current_access()
    units = [u for u in list_units_in_scope(access) if u.path.startswith(root.path)]
    builder = FigureBuilder(units, query.filters, live=True)
    rows = builder.for_units()
    if SORT_KEYS.get(sort):
        rows = sorted(rows, key=SORT_KEYS[sort])
    alerts = [row for row in rows if row.below_target or (row.change and row.change.high < 0)]
    return rows, alerts, builder.unsettled


@bp.get("/")
@staff_required
def index():
    """The overview of a subtree in the account's scope, with alerts."""
    query = parse_dashboard_query(request.args)
    access = current_access()
    roots = top_units_in_scope(access)
    if not roots:
        return render_template(
            "dashboard/index.html", **_common_context(query, roots=[], root=None)
        )
    root = roots[0]
    if request.args.get("unit"):
        if not request.args["unit"].isdigit():
            abort(404)
        root = get_unit_in_scope(access, int(request.args["unit"]))
    sort = request.args.get("sort", "tree")
    rows, alerts, unsettled = overview_figures(root, query, sort)
    context = _common_context(
        query, roots=roots, root=root, rows=rows, alerts=alerts, sort=sort, unsettled=unsettled
    )
    if request.args.get("partial") == "1":
        return render_template("dashboard/_overview.html", **context)
    return render_template("dashboard/index.html", **context)


@bp.get("/units/<int:unit_id>")
@staff_required
def unit(unit_id: int):
    """One unit: its headline, factors, questions, children, counters, trend and comments."""
    query = parse_dashboard_query(request.args)
    access = current_access()
    unit = get_unit_in_scope(access, unit_id)
    children = [u for u in unit.children if access.covers(u)]
    builder = FigureBuilder([unit, *children], query.filters, live=True)
    figures = builder.for_unit(unit, details=True)
    child_rows = [builder.for_unit(child) for child in children]
    counter_rows = [builder.for_counter(unit, counter, details=False) for counter in unit.counters]
    context = _common_context(
        query,
        unit=unit,
        figures=figures,
        child_rows=child_rows,
        counter_rows=counter_rows,
        definition=builder.definition,
        may_manage=access.covers(unit, manage=True),
        unsettled=builder.unsettled,
    )
    if request.args.get("partial") == "1":
        return render_template("dashboard/_unit_figures.html", **context)
    context["trend_points"] = trend_points(monthly_trend(unit, query.filters))
    context["comments"] = list_comments(
        list_subtree_unit_ids(unit),
        query.filters.period,
        contains=request.args.get("q", ""),
        include_hidden=request.args.get("hidden") == "1",
        locale=current_locale_code(),
    )
    return render_template("dashboard/unit.html", **context)


@bp.get("/counters/<int:counter_id>")
@staff_required
def counter(counter_id: int):
    """One counter: its headline, factors, questions, trend and comments."""
    query = parse_dashboard_query(request.args)
    access = current_access()
    counter = get_counter_in_scope(access, counter_id)
    builder = FigureBuilder([counter.unit], query.filters, live=True)
    figures = builder.for_counter(counter.unit, counter)
    context = _common_context(
        query,
        unit=counter.unit,
        counter=counter,
        figures=figures,
        child_rows=[],
        counter_rows=[],
        definition=builder.definition,
        may_manage=access.covers(counter.unit, manage=True),
        unsettled=builder.unsettled,
    )
    if request.args.get("partial") == "1":
        return render_template("dashboard/_unit_figures.html", **context)
    context["trend_points"] = trend_points(
        monthly_trend(counter.unit, query.filters, counter=counter)
    )
    context["comments"] = list_comments(
        [counter.unit_id],
        query.filters.period,
        contains=request.args.get("q", ""),
        include_hidden=request.args.get("hidden") == "1",
        counter_id=counter.id,
        locale=current_locale_code(),
    )
    return render_template("dashboard/unit.html", **context)


@bp.post("/comments/<int:answer_id>/hide")
@manager_required
def hide_comment(answer_id: int):
    """Hide an abusive comment (it stays stored; figures are unaffected)."""
    return _set_hidden(answer_id, True)


@bp.post("/comments/<int:answer_id>/show")
@manager_required
def show_comment(answer_id: int):
    """Show a hidden comment again."""
    return _set_hidden(answer_id, False)


def _set_hidden(answer_id: int, hidden: bool):
    unit = set_comment_hidden(current_access(), answer_id, hidden, current_user)
    audit("comment.hide" if hidden else "comment.show", unit_id=unit.id, answer_id=answer_id)
    db.session.commit()
    flash(_l("The comment is hidden.") if hidden else _l("The comment is shown again."), "info")
    target = request.form.get("next", "")
    if not target.startswith("/staff/"):
        target = url_for("dashboard.unit", unit_id=unit.id)
    return redirect(target)
