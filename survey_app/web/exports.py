"""Annual SIPAS report tables and exports (XLSX, CSV, JSON, print), raw data export, and the
sampling-frame import. Staff see and export only units in their scope; every export is audited
(format, year, unit, row count — never answers)."""

import io

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms.validators import InputRequired, NumberRange

from survey_app.errors import ValidationError
from survey_app.extensions import db
from survey_app.models import Unit
from survey_app.services import exports as writers
from survey_app.services.access import (
    Access,
    get_unit_in_scope,
    list_unit_ids_in_scope,
    list_units_in_scope,
    top_units_in_scope,
)
from survey_app.services.audit import record_event
from survey_app.services.frames import import_frame_csv, list_frame
from survey_app.services.reporting import REPORT_QUESTIONNAIRES, AnnualReport, build_annual_report
from survey_app.web.api_figures import request_access, unit_from_query
from survey_app.web.auth import audit, current_access, manager_required, staff_required
from survey_app.web.dashboard_filters import local_today
from survey_app.web.helpers import BoundedIntegerField
from survey_app.web.uploads import accepts_upload

bp = Blueprint("exports", __name__)

REPORT_FORMATS = ("xlsx", "csv", "json", "print")
RAW_FORMATS = ("csv", "xlsx")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _year(default: int) -> int:
    text = request.args.get("year", "")
    if not text:
        return default
    if not text.isdigit() or not 2000 <= int(text) <= 2100:
        abort(400, description="year must be a year such as 2025")
    return int(text)


def _questionnaire() -> str:
    key = request.args.get("questionnaire", "sipas-counter")
    if key not in REPORT_QUESTIONNAIRES:
        abort(400, description=f"questionnaire must be one of {', '.join(REPORT_QUESTIONNAIRES)}")
    return key


def _build(access: Access, unit: Unit, year: int) -> AnnualReport:
    units = [u for u in list_units_in_scope(access) if u.path.startswith(unit.path)]
    config = current_app.config
    return build_annual_report(
        unit,
        units,
        year,
        questionnaire_key=_questionnaire(),
        include_staff_entered=request.args.get("staff") == "1",
        min_n=config["MIN_N"],
        default_target=config["DEFAULT_TARGET"],
    )


def _report_args(report: AnnualReport) -> dict[str, str]:
    args = {"questionnaire": report.questionnaire_key}
    if report.include_staff_entered:
        args["staff"] = "1"
    return args


@bp.get("/staff/reports")
@staff_required
def reports():
    """Choose a year, unit and questionnaire; Bảng 1–3 on the page, with download buttons."""
    access = current_access()
    roots = top_units_in_scope(access)
    this_year = local_today().year
    year = _year(this_year)
    if not roots:
        return render_template("exports/reports.html", report=None, units=[], year=year)
    unit = roots[0]
    if request.args.get("unit"):
        if not request.args["unit"].isdigit():
            abort(404)
        unit = get_unit_in_scope(access, int(request.args["unit"]))
    report = _build(access, unit, year)
    return render_template(
        "exports/reports.html",
        report=report,
        units=list_units_in_scope(access),
        years=list(range(this_year, this_year - 6, -1)),
        year=year,
        args=_report_args(report),
        questionnaires=REPORT_QUESTIONNAIRES,
        may_manage=access.may_manage_anything,
    )


def _rows_of(report: AnnualReport, tables) -> int:
    return sum(len(t.rows) for t in tables)


@bp.get("/staff/reports/<int:unit_id>/<int:year>.<report_format>")
@staff_required
def report_file(unit_id: int, year: int, report_format: str):
    """The annual report as XLSX, CSV (a ZIP of one file per table, or ?table=N), JSON, or a
    printable page."""
    fmt = report_format
    if fmt not in REPORT_FORMATS:
        abort(404)
    access = current_access()
    unit = get_unit_in_scope(access, unit_id)
    report = _build(access, unit, _checked_year(year))
    tables = report.tables
    name = f"sipas-{unit.code}-{year}-{report.questionnaire_key}"
    table_arg = request.args.get("table", "")
    if fmt == "csv" and table_arg:
        if not table_arg.isdigit() or int(table_arg) not in {t.number for t in tables}:
            abort(404)
        tables = [report.table(int(table_arg))]
    audit(
        "export.report",
        unit_id=unit.id,
        format=fmt,
        year=year,
        questionnaire=report.questionnaire_key,
        tables=[t.number for t in tables],
        rows=_rows_of(report, tables),
        weighted=report.weighted,
    )
    db.session.commit()
    if fmt == "print":
        from survey_app.web import charts

        return render_template("exports/print.html", report=report, charts=charts)
    if fmt == "json":
        return Response(writers.report_json_bytes(report), mimetype="application/json")
    if fmt == "xlsx":
        body, mimetype, name = writers.report_xlsx(report), XLSX, f"{name}.xlsx"
    elif len(tables) == 1:
        body = writers.report_table_csv(report, tables[0]).encode("utf-8")
        mimetype, name = "text/csv", f"{name}-{tables[0].key}.csv"  # Flask adds the charset
    else:
        body, mimetype, name = writers.report_csv_zip(report), "application/zip", f"{name}.zip"
    response = send_file(
        io.BytesIO(body), mimetype=mimetype, as_attachment=True, download_name=name
    )
    # send_file marks a file "no-cache" (meant for files on disk); a report is not to be kept.
    response.headers["Cache-Control"] = "no-store"
    return response


def _checked_year(year: int) -> int:
    if not 2000 <= year <= 2100:
        abort(404)
    return year


@bp.get("/staff/exports/raw/<int:unit_id>/<int:year>.<fmt>")
@staff_required
def raw_export(unit_id: int, year: int, fmt: str):
    """Every response of the unit's subtree in the year, one row each with its answers (one
    column per question key), streamed as CSV or XLSX."""
    if fmt not in RAW_FORMATS:
        abort(404)
    unit = get_unit_in_scope(current_access(), unit_id)
    plan = writers.plan_raw_export(
        unit,
        _checked_year(year),
        _questionnaire_any(),
        current_app.config["LOCAL_TIMEZONE"],
    )
    rows = writers.count_raw_rows(plan)
    name = f"sipas-raw-{unit.code}-{year}-{plan.questionnaire_key}.{fmt}"
    audit(
        "export.raw",
        unit_id=unit.id,
        format=fmt,
        year=year,
        questionnaire=plan.questionnaire_key,
        rows=rows,
    )
    db.session.commit()
    disposition = {"Content-Disposition": f'attachment; filename="{_ascii(name)}"'}
    if fmt == "csv":
        return Response(
            stream_with_context(writers.iter_raw_csv(plan)),
            mimetype="text/csv",  # Flask adds "; charset=utf-8"
            headers=disposition,
        )
    if rows > writers.XLSX_MAX_ROWS:
        raise ValidationError(
            {"format": ["more responses than an XLSX sheet holds (1,048,575): use CSV"]}
        )
    path = writers.temporary_xlsx_path()
    try:
        writers.write_raw_xlsx(plan, path)
    except BaseException:
        writers.iter_file_then_delete(path).close()
        raise
    return Response(writers.iter_file_then_delete(path), mimetype=XLSX, headers=disposition)


def _questionnaire_any() -> str:
    """Raw exports take any loaded questionnaire (quick-rating too)."""
    key = request.args.get("questionnaire", "sipas-counter")
    if not key.replace("-", "").isalnum() or len(key) > 64:
        abort(400, description="unknown questionnaire")
    return key


def _ascii(name: str) -> str:
    return name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")


# --- the sampling frame ------------------------------------------------------------------------


class FrameForm(FlaskForm):
    year = BoundedIntegerField(
        _l("Year"), validators=[InputRequired(), NumberRange(min=2000, max=2100)]
    )
    file = FileField(_l("CSV file (UTF-8)"), validators=[FileRequired()])


@bp.route("/staff/reports/frame", methods=["GET", "POST"])
@accepts_upload
@manager_required
def frame():
    """Import a year's sampling frame (unit_code, service_area, transactions) for units you
    manage; shows the frame stored for the year."""
    access = current_access()
    form = FrameForm()
    year = form.year.data if form.year.data else _year(local_today().year)
    problems = None
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                text = form.file.data.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                form.file.errors = [_("The file is not UTF-8 text; save it as “CSV UTF-8”.")]
            else:
                try:
                    summary = import_frame_csv(text, form.year.data, access=access)
                except ValidationError as error:
                    db.session.rollback()
                    problems = error.problems
                else:
                    audit(
                        "frame.import",
                        year=summary.year,
                        rows=summary.rows,
                        units=summary.units,
                        transactions=summary.transactions,
                    )
                    db.session.commit()
                    flash(
                        _(
                            "Sampling frame %(year)s imported: %(rows)d rows for %(units)d units.",
                            year=summary.year,
                            rows=summary.rows,
                            units=summary.units,
                        ),
                        "info",
                    )
                    return redirect(url_for(".frame", year=summary.year))
        status = 422
    else:
        status = 200
        form.year.data = year
    rows = list_frame(year, list_unit_ids_in_scope(access))
    return render_template(
        "exports/frame.html", form=form, problems=problems, rows=rows, year=year
    ), status


# --- the API ---------------------------------------------------------------------------------


@bp.get("/api/v1/reports/annual")
def api_annual_report():
    """The annual report as JSON (query: unit code, year, questionnaire, staff)."""
    access = request_access()
    unit = unit_from_query(access)
    report = _build(access, unit, _year(local_today().year))
    details = {
        "format": "api-json",
        "year": report.year,
        "questionnaire": report.questionnaire_key,
        "rows": _rows_of(report, report.tables),
    }
    if current_user.is_authenticated:
        audit("export.report", unit_id=unit.id, **details)
    else:
        record_event("export.report", actor="api-key", unit_id=unit.id, details=details)
    db.session.commit()
    return writers.report_json(report)


api_annual_report.required_role = "staff"  # a staff session (any role), or an API key
