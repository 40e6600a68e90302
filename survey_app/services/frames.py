"""The sampling frame of a year: transactions (dossiers) per unit and service area, imported from
CSV (`unit_code,service_area,transactions`). It weights the annual figures (services/reporting.py):
stratum = unit × service area, weight = transactions / responses, N_h = transactions (FPC).

An import is all-or-nothing and replaces the year's frame rows of the units the file names (so a
ward manager can send the ward's figures without touching the rest of the province).
"""

import logging
from dataclasses import dataclass

from sqlalchemy import delete, select

from survey_app.errors import ValidationError
from survey_app.extensions import db
from survey_app.models import SamplingFrame, Unit
from survey_app.services.access import Access
from survey_app.services.csvfiles import check_length, read_csv_rows
from survey_app.services.units import find_unit_by_code

log = logging.getLogger(__name__)

FRAME_CSV_COLUMNS = ("unit_code", "service_area", "transactions")
MAX_TRANSACTIONS = 100_000_000


@dataclass(frozen=True)
class FrameImportSummary:
    year: int
    rows: int
    units: int
    transactions: int
    unit_ids: tuple[int, ...]


def check_year(year: int | None) -> int:
    if year is None or not 2000 <= year <= 2100:
        raise ValidationError({"year": ["must be a year such as 2025"]})
    return year


def import_frame_csv(text: str, year: int, *, access: Access | None = None) -> FrameImportSummary:
    """Replace the `year` frame of every unit named in the CSV. With `access`, every unit must be
    one the account manages. Raises ValidationError naming each problem with its line number;
    nothing is changed then."""
    check_year(year)
    rows = read_csv_rows(text, FRAME_CSV_COLUMNS)
    if not rows:
        raise ValidationError({"file": ["has no rows below the header"]})
    problems: dict[str, list[str]] = {}
    seen: dict[tuple[int, str], int] = {}
    entries: list[tuple[Unit, str, int]] = []
    for line, row in rows:
        here: list[str] = []
        check_length(row, {"unit_code": 32, "service_area": 64}, here)
        unit = find_unit_by_code(row["unit_code"]) if row["unit_code"] else None
        if not row["unit_code"]:
            here.append("unit_code is empty")
        elif unit is None or (access is not None and not access.covers(unit, manage=True)):
            # Outside the account's scope reads the same as unknown: nothing leaks.
            here.append(f"unit_code {row['unit_code']!r} is not a unit you manage")
        area = row["service_area"]
        if not area:
            here.append("service_area is empty")
        text_n = row["transactions"].replace(" ", "")
        if not text_n.isdigit() or not 0 < int(text_n) <= MAX_TRANSACTIONS:
            here.append(
                f"transactions {row['transactions']!r} must be a whole number from 1 to "
                f"{MAX_TRANSACTIONS:,}"
            )
        if unit is not None and area:
            key = (unit.id, area)
            if key in seen:
                here.append(
                    f"{row['unit_code']} / {area} is already on line {seen[key]}: one row per "
                    "unit and service area"
                )
            seen.setdefault(key, line)
        if here:
            problems[f"line {line}"] = here
        else:
            entries.append((unit, area, int(text_n)))
    if problems:
        raise ValidationError(problems)
    unit_ids = sorted({unit.id for unit, _, _ in entries})
    db.session.execute(
        delete(SamplingFrame).where(SamplingFrame.year == year, SamplingFrame.unit_id.in_(unit_ids))
    )
    db.session.add_all(
        SamplingFrame(year=year, unit_id=unit.id, service_area=area, transactions=n)
        for unit, area, n in entries
    )
    db.session.flush()
    total = sum(n for _, _, n in entries)
    log.info("sampling frame imported year=%s rows=%s units=%s", year, len(entries), len(unit_ids))
    return FrameImportSummary(year, len(entries), len(unit_ids), total, tuple(unit_ids))


def list_frame(year: int, unit_ids: list[int]) -> list[tuple[str, str, str, int]]:
    """(unit code, unit name, service area, transactions) of the year's frame within `unit_ids`."""
    if not unit_ids:
        return []
    rows = db.session.execute(
        select(Unit.code, Unit.name_vi, SamplingFrame.service_area, SamplingFrame.transactions)
        .join(Unit, Unit.id == SamplingFrame.unit_id)
        .where(SamplingFrame.year == year, SamplingFrame.unit_id.in_(unit_ids))
        .order_by(Unit.path, SamplingFrame.service_area)
    )
    return [tuple(row) for row in rows]
