"""Reading the CSV files staff upload (units, counters, targets, sampling frames, sample codes):
strict, with line numbers.

A cell holding a character no text may hold (a control, a bidi override, a line break inside a
quoted cell: questionnaires/text.py) refuses the file with the line and column, like any other
problem: the file comes from a spreadsheet that can be corrected, and an import is all or none.
"""

import csv
import io

from questionnaires.text import describe_unsafe_character
from survey_app.errors import ValidationError


def read_csv_rows(
    text: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs with trimmed values; a UTF-8 BOM (Excel's) is ignored.

    Raises ValidationError for missing or unknown columns, for rows with more fields than the
    header and for cells holding a character no text may hold, naming the physical line (blank
    lines and multi-line quoted fields are counted).
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        columns = reader.fieldnames or []
        missing = [c for c in required if c not in columns]
        if missing:
            raise ValidationError({"file": [f"missing column(s): {', '.join(missing)}"]})
        unknown = [c for c in columns if c not in required + optional]
        if unknown:
            raise ValidationError({"file": [f"unknown column(s): {', '.join(unknown)}"]})
        rows, problems = _read_rows(reader, columns)
    except csv.Error as error:  # e.g. a field over the csv module's limit (128 KiB)
        raise ValidationError({f"line {reader.line_num}": [f"is not CSV: {error}"]}) from None
    if problems:
        raise ValidationError(problems)
    return rows


def _read_rows(
    reader: csv.DictReader, columns: list[str]
) -> tuple[list[tuple[int, dict[str, str]]], dict[str, list[str]]]:
    rows, problems = [], {}
    for row in reader:
        line = reader.line_num
        if None in row:
            problems[f"line {line}"] = [
                f"has {len(columns) + len(row[None])} fields but the header has {len(columns)}"
            ]
            continue
        row = {k: (v or "").strip() for k, v in row.items()}
        unsafe = [
            f"{column} {message}"
            for column, value in row.items()
            if (message := describe_unsafe_character(value)) is not None
        ]
        if unsafe:
            problems[f"line {line}"] = unsafe
            continue
        rows.append((line, row))
    return rows, problems


def check_length(row: dict[str, str], limits: dict[str, int], here: list[str]) -> None:
    """Append a problem to `here` for each column longer than its limit."""
    for column, limit in limits.items():
        if len(row.get(column, "")) > limit:
            here.append(f"{column} is {len(row[column])} characters long; the limit is {limit}")


def check_flag(row: dict[str, str], column: str, here: list[str]) -> bool:
    """A 1/0 column (empty means 1)."""
    value = row.get(column, "")
    if value not in ("", "1", "0"):
        here.append(f"{column} must be 1 or 0, not {value!r}")
    return value != "0"
