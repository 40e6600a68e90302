"""Targets from plans ("SIPAS trên 90% hằng năm"): loading them and finding the one that applies."""

import logging
from dataclasses import dataclass

from sqlalchemy import select

from questionnaires.text import add_unsafe_text_problems
from survey_app.errors import ValidationError
from survey_app.extensions import db
from survey_app.models import COMPARISONS, PERIOD_KINDS, Target, Unit
from survey_app.services.csvfiles import check_length, read_csv_rows
from survey_app.services.units import find_unit_by_code

log = logging.getLogger(__name__)

TARGET_CSV_COLUMNS = ("metric", "threshold", "period_kind", "source_document")
TARGET_CSV_OPTIONAL = ("comparison", "unit_code", "questionnaire", "start_year", "end_year")
METRIC_PREFIXES = ("index:", "content:", "factor:", "question:")


def _check_metric(metric: str) -> str | None:
    if metric == "headline" or (metric.startswith(METRIC_PREFIXES) and metric.split(":", 1)[1]):
        return None
    return "must be 'headline' or one of index:<key>, content:<key>, factor:<key>, question:<key>"


def parse_threshold(text: str) -> float | None:
    """'90%' or '90' → 0.9, '0.9' → 0.9, '0.5%' → 0.005; None when it is not a share in (0, 1).
    A bare number is a share below 1 and a percentage from 1 up; exactly 1 is ambiguous."""
    text = text.strip()
    is_percent = text.endswith("%")
    try:
        value = float(text.rstrip("%").strip())
    except ValueError:
        return None
    if is_percent or value > 1:
        value /= 100
    elif value == 1:
        return None
    return value if 0 < value < 1 else None


def import_targets_csv(text: str) -> int:
    """Add targets from CSV (metric, threshold as a share or a percentage, period_kind,
    source_document; optional comparison, unit_code, questionnaire, start_year, end_year)."""
    rows = read_csv_rows(text, TARGET_CSV_COLUMNS, TARGET_CSV_OPTIONAL)
    problems: dict[str, list[str]] = {}
    targets = []
    for line, row in rows:
        here = problems.setdefault(f"line {line}", [])
        if (message := _check_metric(row["metric"])) is not None:
            here.append(f"metric {message}")
        threshold = parse_threshold(row["threshold"])
        if threshold is None:
            here.append(
                f"threshold {row['threshold']!r} must be a share (0.9) or a percentage (90%)"
            )
        check_length(row, {"metric": 64, "questionnaire": 64, "source_document": 300}, here)
        comparison = row.get("comparison") or ">="
        if comparison not in COMPARISONS:
            here.append(f"comparison must be one of {', '.join(COMPARISONS)}")
        if row["period_kind"] not in PERIOD_KINDS:
            here.append(f"period_kind must be one of {', '.join(PERIOD_KINDS)}")
        unit = None
        if row.get("unit_code"):
            unit = find_unit_by_code(row["unit_code"])
            if unit is None:
                here.append(f"unit_code {row['unit_code']!r} is not a known unit")
        years = []
        for column in ("start_year", "end_year"):
            value = row.get(column) or ""
            if value and not (value.isdigit() and 2000 <= int(value) <= 2100):
                here.append(f"{column} must be a year such as 2025")
            years.append(int(value) if value.isdigit() else None)
        if None not in years and years[0] > years[1]:
            here.append(f"end_year {years[1]} is before start_year {years[0]}")
        if not here:
            problems.pop(f"line {line}")
            targets.append(
                Target(
                    metric=row["metric"],
                    threshold=threshold,
                    comparison=comparison,
                    unit_id=unit.id if unit else None,
                    questionnaire_key=row.get("questionnaire") or None,
                    period_kind=row["period_kind"],
                    start_year=years[0],
                    end_year=years[1],
                    source_document=row["source_document"],
                )
            )
    if problems:
        raise ValidationError(problems)
    db.session.add_all(targets)
    db.session.flush()
    log.info("targets loaded count=%s", len(targets))
    return len(targets)


@dataclass(frozen=True)
class ApplicableTarget:
    threshold: float
    comparison: str
    source_document: str
    target_id: int | None  # None: the configured default, not a plan's target


def resolve_targets(
    units: list[Unit],
    *,
    metric: str,
    questionnaire_key: str,
    period_kinds: tuple[str, ...],
    year: int,
    default_threshold: float,
) -> dict[int, ApplicableTarget]:
    """The target for each unit in one query: the nearest ancestor's wins over wider ones, then a
    questionnaire-specific one over a general one, then the first of `period_kinds` over later ones;
    units without one get the configured default."""
    candidates = db.session.scalars(
        select(Target).where(
            Target.metric == metric,
            Target.period_kind.in_(period_kinds),
            (Target.questionnaire_key.is_(None)) | (Target.questionnaire_key == questionnaire_key),
            (Target.start_year.is_(None)) | (Target.start_year <= year),
            (Target.end_year.is_(None)) | (Target.end_year >= year),
        )
    ).all()
    resolved = {}
    for unit in units:
        ancestor_ids = [int(part) for part in unit.path.strip("/").split("/") if part]
        depth = {unit_id: i for i, unit_id in enumerate(ancestor_ids)}
        applicable = [t for t in candidates if t.unit_id is None or t.unit_id in depth]
        if not applicable:
            resolved[unit.id] = ApplicableTarget(default_threshold, ">=", "", None)
            continue
        best = max(
            applicable,
            key=lambda t: (
                depth.get(t.unit_id, -1),
                t.questionnaire_key is not None,
                -period_kinds.index(t.period_kind),
                t.id,
            ),
        )
        resolved[unit.id] = ApplicableTarget(
            best.threshold, best.comparison, best.source_document, best.id
        )
    return resolved


def find_applicable_target(
    unit: Unit,
    *,
    metric: str,
    questionnaire_key: str,
    period_kind: str,
    year: int,
    default_threshold: float,
) -> ApplicableTarget:
    """The target for `unit`: the one set on the nearest ancestor (or the unit itself) wins over
    wider ones, a questionnaire-specific one over a general one; else the configured default."""
    ancestor_ids = [int(part) for part in unit.path.strip("/").split("/") if part]
    candidates = db.session.scalars(
        select(Target).where(
            Target.metric == metric,
            Target.period_kind == period_kind,
            (Target.unit_id.is_(None)) | (Target.unit_id.in_(ancestor_ids)),
            (Target.questionnaire_key.is_(None)) | (Target.questionnaire_key == questionnaire_key),
            (Target.start_year.is_(None)) | (Target.start_year <= year),
            (Target.end_year.is_(None)) | (Target.end_year >= year),
        )
    ).all()
    if not candidates:
        return ApplicableTarget(default_threshold, ">=", "", None)
    depth = {unit_id: i for i, unit_id in enumerate(ancestor_ids)}
    best = max(
        candidates, key=lambda t: (depth.get(t.unit_id, -1), t.questionnaire_key is not None, t.id)
    )
    return ApplicableTarget(best.threshold, best.comparison, best.source_document, best.id)


def create_target(
    *,
    metric: str,
    threshold: float,
    comparison: str,
    unit: Unit | None,
    questionnaire_key: str | None,
    period_kind: str,
    start_year: int | None,
    end_year: int | None,
    source_document: str,
) -> Target:
    """Add one target; raises ValidationError naming each problem, among them a metric or source
    document holding a character no text may hold (questionnaires/text.py)."""
    problems: dict[str, list[str]] = {}
    if (message := _check_metric(metric)) is not None:
        problems["metric"] = [message]
    if not 0 < threshold < 1:
        problems["threshold"] = ["must be between 0 % and 100 %"]
    if comparison not in COMPARISONS:
        problems["comparison"] = [f"must be one of {', '.join(COMPARISONS)}"]
    if period_kind not in PERIOD_KINDS:
        problems["period_kind"] = [f"must be one of {', '.join(PERIOD_KINDS)}"]
    if start_year and end_year and start_year > end_year:
        problems["end_year"] = [f"{end_year} is before the start year {start_year}"]
    if len(source_document) > 300:
        problems["source_document"] = ["is longer than 300 characters"]
    add_unsafe_text_problems(problems, {"metric": metric, "source_document": source_document})
    if problems:
        raise ValidationError(problems)
    target = Target(
        metric=metric,
        threshold=threshold,
        comparison=comparison,
        unit_id=unit.id if unit else None,
        questionnaire_key=questionnaire_key or None,
        period_kind=period_kind,
        start_year=start_year,
        end_year=end_year,
        source_document=source_document.strip(),
    )
    db.session.add(target)
    db.session.flush()
    return target


def list_targets(unit_ids: list[int] | None) -> list[Target]:
    """Targets on the given units (None: all, including the province-wide ones without a unit)."""
    query = select(Target).order_by(Target.id)
    if unit_ids is not None:
        query = query.where(Target.unit_id.in_(unit_ids))
    return list(db.session.scalars(query))
