"""Writing the annual report (XLSX, CSV, JSON) and streaming the raw responses (CSV, XLSX).

Report tables are small (a row per unit or question): they are written in memory. Raw exports
are not: `iter_raw_rows` reads the responses ordered by (submitted_at, id) through a server-side
cursor a page at a time, and each page's answers with one query, as tuples (no ORM objects), so
memory follows the page size, not the number of responses.

- CSV: UTF-8 with a BOM (Excel then keeps the diacritics), generated row by row.
- XLSX: openpyxl's write-only workbook writes rows to a temporary file as they come (constant
  memory); the finished file is then streamed from disk in chunks and deleted. An XLSX sheet
  holds at most 1,048,576 rows: beyond that, use CSV.

Every text cell is written without the characters no text may hold (questionnaires/text.py):
rows stored before the rule applied at the door still export, and openpyxl refuses control
characters. A text cell that a spreadsheet could read as a formula is made inert with an
apostrophe (OWASP "CSV injection"): in XLSX a cell starting with = + - @ or a tab (a carriage
return is a line break by then); in CSV also every place where a cell could start when a
spreadsheet splits the file on another separator than the comma (a semicolon or a tab, as Excel
does in locales whose decimal separator is the comma) and so loses track of the quoting: after
, ; tab, a line break or a quote, spaces allowed in between.
`tests/survey_app/web/test_spreadsheet_safety.py` opens such files in LibreOffice with each
separator and finds no formula.
"""

import csv
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select

from questionnaires.text import clean_text
from survey_app.errors import ValidationError
from survey_app.extensions import db
from survey_app.models import Answer, Counter, Questionnaire, Response, Unit
from survey_app.services.questionnaires import get_current_questionnaire
from survey_app.services.reporting import AnnualReport, Column, ReportTable
from survey_app.services.rollup import settle_pending

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# Where a CSV text cell may start in a spreadsheet that splits on , ; or tab (see above), and a
# formula character after it.
_CSV_CELL_START = re.compile(r'(^|[,;\t\n"])(\s*)(?=[=+\-@])')
XLSX_MAX_ROWS = 1_048_575  # one row for the header
RAW_PAGE_SIZE = 1000
BOM = "\ufeff"
PERCENT_FORMAT = "0.00%"
POINTS_FORMAT = "+0.00;-0.00;0.00"
NUMBER_FORMAT = "0.00"


def neutralise(value: object) -> object:
    """An XLSX cell: text without the characters no text may hold and, if a spreadsheet would run
    it as a formula, with a leading `'`. Other values are returned as they are."""
    if not isinstance(value, str):
        return value
    value = clean_text(value)
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def neutralise_csv(value: object) -> object:
    """A CSV cell: as `neutralise`, and with a `'` before every formula character that could
    start a cell when a spreadsheet splits the line on a semicolon or a tab (see above)."""
    if not isinstance(value, str):
        return value
    value = clean_text(value)
    if _CSV_CELL_START.search(value):  # rarely: a search costs a third of a substitution
        value = _CSV_CELL_START.sub(r"\1\2'", value)
    return "'" + value if value.startswith("\t") else value


# --- the report ------------------------------------------------------------------------------


def _csv_cell(column: Column, value: object) -> object:
    if value is None:
        return ""
    if column.kind == "share":
        return f"{value * 100:.2f}"
    if column.kind in ("points", "number"):
        return f"{value:.2f}"
    return neutralise_csv(value)


def report_table_csv(report: AnnualReport, table: ReportTable) -> str:
    """One table as CSV text (with the BOM): the report's metadata lines, a blank line, the
    header and the rows; percentages as numbers (91.23), points with two decimals."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralise_csv(table.title)])
    for label, value in report.metadata():
        writer.writerow([neutralise_csv(label), neutralise_csv(value)])
    for note in table.notes + report.notes:
        writer.writerow(["Ghi chú", neutralise_csv(note)])
    writer.writerow([])
    writer.writerow([neutralise_csv(c.header) for c in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(c, v) for c, v in zip(table.columns, row, strict=True)])
    return out.getvalue()


def report_csv_zip(report: AnnualReport) -> bytes:
    """Every table as its own CSV file in a ZIP archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for table in report.tables:
            name = f"sipas-{report.unit.code}-{report.year}-{table.key}.csv"
            archive.writestr(name, report_table_csv(report, table).encode("utf-8"))
    return buffer.getvalue()


def _width(value: object, column: Column) -> int:
    if value is None:
        return 0
    if column.kind in ("share", "points", "number"):
        return 8
    return len(str(value))


def report_xlsx(report: AnnualReport) -> bytes:
    """One sheet per table: title and metadata at the top, the header row frozen below them,
    percentages as numbers with a percent format, widths fitted to the content."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    for table in report.tables:
        sheet = workbook.create_sheet(f"Bang {table.number}")
        sheet.append([neutralise(table.title)])
        sheet["A1"].font = Font(bold=True, size=13)
        for label, value in report.metadata():
            sheet.append([neutralise(label), neutralise(value)])
        for note in table.notes + report.notes:
            sheet.append(["Ghi chú", neutralise(note)])
        sheet.append([])
        # Title, metadata, notes, a blank row: the header comes next (max_row ignores blanks).
        header_row = 2 + len(report.metadata()) + len(table.notes) + len(report.notes) + 1
        sheet.append([neutralise(c.header) for c in table.columns])
        for cell in sheet[header_row]:
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for row in table.rows:
            sheet.append([neutralise(v) for v in row])
        for j, column in enumerate(table.columns, 1):
            fmt = {"share": PERCENT_FORMAT, "points": POINTS_FORMAT, "number": NUMBER_FORMAT}.get(
                column.kind
            )
            if fmt:
                for (cell,) in sheet.iter_rows(
                    min_row=header_row + 1, min_col=j, max_col=j, max_row=sheet.max_row
                ):
                    cell.number_format = fmt
            widest = max(
                [min(len(column.header), 24)]
                + [_width(row[j - 1], column) for row in table.rows]
                + (
                    [len(str(sheet.cell(r, 1).value or "")) // 3 for r in range(2, header_row)]
                    if j == 1
                    else []
                )
            )
            sheet.column_dimensions[get_column_letter(j)].width = min(max(widest + 2, 8), 60)
        sheet.freeze_panes = sheet.cell(header_row + 1, 1)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def json_safe(value: object) -> object:
    """A value for a JSON export (the report, the figures API): NaN as null, text without the
    characters no text may hold, lists and objects within."""
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {key: json_safe(v) for key, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


def report_json(report: AnnualReport) -> dict:
    """The report for the API: metadata, then each table's columns (key, header, kind) and rows
    as objects keyed by column (shares as fractions 0–1, changes in percentage points)."""
    report_object = {
        "unit": report.unit.code,
        "unit_name": report.unit.name_vi,
        "year": report.year,
        "period": {"start": report.period.start.isoformat(), "end": report.period.end.isoformat()},
        "questionnaire": report.questionnaire_key,
        "version": report.version,
        "formula_version": report.formula_version,
        "weighted": report.weighted,
        "weighting": report.weighting,
        "interval_method": report.interval_method,
        "staff_entered_included": report.include_staff_entered,
        "confidence": report.confidence,
        "min_n": report.min_n,
        "notes": report.notes,
        "tables": [
            {
                "number": table.number,
                "key": table.key,
                "title": table.title,
                "available": table.available,
                "notes": table.notes,
                "columns": [
                    {"key": c.key, "header": c.header, "kind": c.kind} for c in table.columns
                ],
                "rows": [
                    {c.key: v for c, v in zip(table.columns, row, strict=True)}
                    for row in table.rows
                ],
            }
            for table in report.tables
        ],
    }
    return json_safe(report_object)


def report_json_bytes(report: AnnualReport) -> bytes:
    return json.dumps(report_json(report), ensure_ascii=False, indent=1).encode("utf-8")


# --- raw responses ---------------------------------------------------------------------------

RAW_FIXED_COLUMNS = (
    "response_id",
    "submitted_at",
    "unit_code",
    "unit_name",
    "counter_code",
    "channel",
    "entered_by",
    "questionnaire",
    "version",
)


@dataclass(frozen=True)
class RawExport:
    """What a raw export selects: a unit's subtree, a year (local days), a questionnaire."""

    unit_path: str
    year: int
    questionnaire_key: str
    question_keys: tuple[str, ...]
    multi_keys: frozenset[str]
    timezone: str

    @property
    def columns(self) -> tuple[str, ...]:
        return RAW_FIXED_COLUMNS + self.question_keys

    def where(self) -> tuple:
        return (
            Unit.path.startswith(self.unit_path),
            Questionnaire.key == self.questionnaire_key,
            Response.local_day.between(date(self.year, 1, 1), date(self.year, 12, 31)),
        )


def plan_raw_export(unit: Unit, year: int, questionnaire_key: str, timezone: str) -> RawExport:
    """Columns from the questionnaire's current definition (stable question keys). Settles
    pending responses first, so that the export holds every acknowledged one."""
    if not 2000 <= year <= 2100:
        raise ValidationError({"year": ["must be a year such as 2025"]})
    settle_pending()
    _, definition = get_current_questionnaire(questionnaire_key)
    return RawExport(
        unit.path,
        year,
        questionnaire_key,
        tuple(q.key for q in definition.questions),
        frozenset(q.key for q in definition.questions if q.type == "multi"),
        timezone,
    )


def count_raw_rows(plan: RawExport) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Response)
        .join(Unit, Unit.id == Response.unit_id)
        .join(Questionnaire, Questionnaire.id == Response.questionnaire_id)
        .where(*plan.where())
    )


def iter_raw_rows(plan: RawExport, page_size: int = RAW_PAGE_SIZE) -> Iterator[list]:
    """One list per response (fixed columns, then one cell per question key: a value, multiple
    choices as "1;3", a text as is), in (submitted_at, id) order.

    One query for the responses, read through a server-side cursor (`yield_per`: PostgreSQL
    fetches `page_size` rows at a time, SQLite steps its cursor), and per page one query for the
    answers of those responses. Only a page of rows is held at a time.
    """
    zone = ZoneInfo(plan.timezone)
    position = {key: i for i, key in enumerate(plan.question_keys)}
    query = (
        select(
            Response.id,
            Response.submitted_at,
            Unit.code,
            Unit.name_vi,
            Counter.code,
            Response.channel,
            Response.entered_by,
            Questionnaire.key,
            Questionnaire.version,
        )
        .join(Unit, Unit.id == Response.unit_id)
        .join(Questionnaire, Questionnaire.id == Response.questionnaire_id)
        .outerjoin(Counter, Counter.id == Response.counter_id)
        .where(*plan.where())
        .order_by(Response.submitted_at, Response.id)
        .execution_options(yield_per=page_size)
    )
    result = db.session.execute(query)
    try:
        for page in result.partitions():
            cells: dict[object, list] = {row[0]: [None] * len(position) for row in page}
            answers = db.session.execute(
                select(Answer.response_id, Answer.question_key, Answer.value, Answer.text)
                .where(Answer.response_id.in_(list(cells)))
                .order_by(Answer.response_id, Answer.question_key, Answer.value)
            )
            for response_id, key, value, text in answers:
                j = position.get(key)
                if j is None:
                    continue  # a question of an older version, no longer asked
                row = cells[response_id]
                if key in plan.multi_keys:
                    row[j] = f"{row[j]};{value}" if row[j] is not None else str(value)
                else:
                    row[j] = text if text is not None else value
            for rid, submitted, unit_code, unit_name, counter, channel, by, key, version in page:
                local = submitted.astimezone(zone).replace(tzinfo=None)
                yield [
                    str(rid),
                    local.isoformat(sep=" ", timespec="seconds"),
                    unit_code,
                    unit_name,
                    counter,
                    channel,
                    by,
                    key,
                    version,
                    *cells[rid],
                ]
    finally:
        result.close()


class _Line:
    """A file-like sink for csv.writer that hands back what was written."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text


def iter_raw_csv(plan: RawExport, page_size: int = RAW_PAGE_SIZE) -> Iterator[str]:
    """The raw export as CSV text chunks (BOM and header first, then about a page per chunk)."""
    sink = _Line()
    writer = csv.writer(sink, lineterminator="\r\n")
    writer.writerow(plan.columns)
    yield BOM + sink.text
    sink.text = ""
    for i, row in enumerate(iter_raw_rows(plan, page_size), 1):
        writer.writerow(["" if v is None else neutralise_csv(v) for v in row])
        if i % page_size == 0:
            yield sink.text
            sink.text = ""
    if sink.text:
        yield sink.text


def write_raw_xlsx(plan: RawExport, path: str, page_size: int = RAW_PAGE_SIZE) -> int:
    """Write the raw export to an XLSX file at `path` (write-only workbook: rows go to a temporary
    file as they come). Returns the number of rows; refuses more than a sheet holds."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Phieu")
    sheet.freeze_panes = "A2"
    sheet.append(list(plan.columns))
    rows = 0
    for row in iter_raw_rows(plan, page_size):
        rows += 1
        if rows > XLSX_MAX_ROWS:
            raise ValidationError(
                {"format": ["more responses than an XLSX sheet holds (1,048,575): use CSV"]}
            )
        sheet.append([neutralise(v) for v in row])
    workbook.save(path)
    return rows


def iter_file_then_delete(path: str, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """Stream a temporary file in chunks, then remove it."""
    try:
        with open(path, "rb") as handle:
            while block := handle.read(chunk):
                yield block
    finally:
        os.unlink(path)


def temporary_xlsx_path() -> str:
    handle, path = tempfile.mkstemp(suffix=".xlsx", prefix="sipas-raw-")
    os.close(handle)
    return path
