"""Reading the CSV files staff upload (units, counters, targets): strict, with line numbers."""

import csv
import io

from survey_app.errors import ValidationError


def read_csv_rows(
    text: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs with trimmed values; a UTF-8 BOM (Excel's) is ignored.

    Raises ValidationError for missing or unknown columns and for rows with more fields than the
    header, naming the physical line (blank lines and multi-line quoted fields are counted).
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = reader.fieldnames or []
    missing = [c for c in required if c not in columns]
    if missing:
        raise ValidationError({"file": [f"missing column(s): {', '.join(missing)}"]})
    unknown = [c for c in columns if c not in required + optional]
    if unknown:
        raise ValidationError({"file": [f"unknown column(s): {', '.join(unknown)}"]})
    rows, problems = [], {}
    for row in reader:
        line = reader.line_num
        if None in row:
            problems[f"line {line}"] = [
                f"has {len(columns) + len(row[None])} fields but the header has {len(columns)}"
            ]
            continue
        rows.append((line, {k: (v or "").strip() for k, v in row.items()}))
    if problems:
        raise ValidationError(problems)
    return rows


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
