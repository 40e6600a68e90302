"""`flask sipas …`: the annual SIPAS report and raw exports, and the sampling-frame import."""

from pathlib import Path

import click
from flask import current_app

from survey_app.errors import DomainError
from survey_app.extensions import db


@click.group("sipas")
def sipas_group() -> None:
    """Annual SIPAS figures: exports and the sampling frame."""


@sipas_group.command("export")
@click.option("--year", required=True, type=click.IntRange(2000, 2100))
@click.option("--unit", "unit_code", required=True, help="Unit code (its whole subtree).")
@click.option(
    "--format", "fmt", type=click.Choice(["xlsx", "csv", "json"]), default="xlsx", show_default=True
)
@click.option("--output", required=True, type=click.Path(dir_okay=False, writable=True))
@click.option("--questionnaire", default="sipas-counter", show_default=True)
@click.option("--raw", is_flag=True, help="Every response with its answers instead of the tables.")
@click.option("--staff-entered", is_flag=True, help="Count forms keyed by staff in the figures.")
def export_command(
    year: int,
    unit_code: str,
    fmt: str,
    output: str,
    questionnaire: str,
    raw: bool,
    staff_entered: bool,
) -> None:
    """Write the annual report (or with --raw, the raw responses) of a unit to a file."""
    from survey_app.services import exports as writers
    from survey_app.services.access import Access, list_units_in_scope
    from survey_app.services.audit import record_event
    from survey_app.services.reporting import build_annual_report
    from survey_app.services.units import get_unit_by_code

    config = current_app.config
    try:
        unit = get_unit_by_code(unit_code)
        if raw:
            if fmt == "json":
                raise click.ClickException("raw exports are CSV or XLSX")
            plan = writers.plan_raw_export(unit, year, questionnaire, config["LOCAL_TIMEZONE"])
            if fmt == "csv":
                rows = 0
                with open(output, "w", encoding="utf-8", newline="") as handle:
                    for chunk in writers.iter_raw_csv(plan):
                        handle.write(chunk)
                rows = writers.count_raw_rows(plan)
            else:
                rows = writers.write_raw_xlsx(plan, output)
            action = "export.raw"
        else:
            units = list_units_in_scope(Access.for_units([unit]))
            report = build_annual_report(
                unit,
                units,
                year,
                questionnaire_key=questionnaire,
                include_staff_entered=staff_entered,
                min_n=config["MIN_N"],
                default_target=config["DEFAULT_TARGET"],
            )
            if fmt == "xlsx":
                Path(output).write_bytes(writers.report_xlsx(report))
            elif fmt == "csv":
                Path(output).write_bytes(writers.report_csv_zip(report))
            else:
                Path(output).write_bytes(writers.report_json_bytes(report))
            rows = sum(len(t.rows) for t in report.tables)
            action = "export.report"
        record_event(
            action,
            actor="cli",
            unit_id=unit.id,
            details={"format": fmt, "year": year, "questionnaire": questionnaire, "rows": rows},
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    what = "responses" if raw else "table rows"
    click.echo(f"{output}: {rows:,} {what} ({fmt})")


@sipas_group.command("import-frame")
@click.option("--year", required=True, type=click.IntRange(2000, 2100))
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False))
def import_frame_command(year: int, csv_file: str) -> None:
    """Import the year's sampling frame from a CSV file (unit_code, service_area, transactions)."""
    from survey_app.cli import _fail
    from survey_app.services.audit import record_event
    from survey_app.services.frames import import_frame_csv

    try:
        summary = import_frame_csv(Path(csv_file).read_text(encoding="utf-8-sig"), year)
    except DomainError as error:
        _fail(error)
    record_event(
        "frame.import",
        actor="cli",
        details={"year": year, "rows": summary.rows, "units": summary.units},
    )
    db.session.commit()
    click.echo(
        f"sampling frame {year}: {summary.rows} rows for {summary.units} units, "
        f"{summary.transactions:,} transactions"
    )
