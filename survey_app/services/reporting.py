"""The annual SIPAS report (sipas.md §6) as data: Bảng 1–6 for a year and a unit subtree.

Each table is a list of rows under typed columns (text, integer, share, percentage points,
number), so that the writers (``services/exports.py``) can give Excel real numbers with a percent
format, CSV plain numbers and JSON the raw values. Every report states its period, questionnaire
and formula version, weighting and interval method.

Two ways to the figures
-----------------------
- **Unweighted** (no sampling frame for the year): Bảng 1–3 come from the very cells the
  dashboard reads (``FigureBuilder`` over ``answer_counts`` and ``index_moments`` for a year
  ``Period``), so the report and the dashboard agree to the last digit. Indices: logit interval
  from the respondent-clustered linearised variance; one question's share: Wilson.
- **Weighted** (a frame was imported for the year, ``services/frames.py``): design-based, as
  statistics.md §5. The year's responses of the subtree are loaded as arrays (one query for the
  respondents with their stratum, one for the answers of the scored items: ``select`` tuples, no
  ORM objects). Stratum = unit × the counter's service area (responses at a counter without one,
  or without a counter, form the stratum "(chưa phân loại)"); weight = transactions / responses
  of the stratum; population N_h = transactions of the stratum (finite-population correction).
  Responses in a stratum the frame does not list cannot be weighted: they are left out and the
  report says how many. ``compose_index(..., weights, strata, population)`` then gives every
  index with its design effect and effective n.

  Per-unit figures and domains: ``compose_index`` has no domain argument, so a unit's figure is
  computed on **the unit's own strata** (the strata of its subtree). A unit is a union of whole
  strata (the stratum is unit × service area), so restricting the design to those strata is the
  exact design-based estimate for that unit — not the "subset the records first" error of a domain
  that cuts across strata (statistics.md §5), whose variance would lose the between-domain part.
  Strata with a single respondent cannot have a variance: they are collapsed into one pooled
  stratum (N summed) for the variance only — their weights stay — and a pooled stratum that still
  holds one respondent is treated as taken with certainty. Both are reported in the notes.

Bảng 4–6 (frequencies, expectations, sample structure) are unweighted counts in both cases and
say so. Year over year: last year's figure over the same subtree (merged units are re-parented
under their successor, so their history counts there), the change with its interval
(``figures.change_between``) and whether it is significant.
"""

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
from sqlalchemy import func, select

import analytics
from analytics import Verdict, compose_index, verdict
from questionnaires import Definition, Question
from survey_app.errors import ValidationError
from survey_app.extensions import db
from survey_app.models import (
    ANSWERED_MARKER,
    CHANNELS,
    Answer,
    Counter,
    Response,
    SamplingFrame,
    Unit,
)
from survey_app.services.figures import (
    Change,
    Figure,
    FigureBuilder,
    Filters,
    QuestionFigures,
    change_between,
    figure_from_index,
    share_figure,
)
from survey_app.services.periods import Period, period_of
from survey_app.services.questionnaires import get_current_questionnaire, grouping_of
from survey_app.services.targets import ApplicableTarget

REPORT_QUESTIONNAIRES = ("sipas-counter", "sipas-annual")
NOT_CLASSIFIED = "(chưa phân loại)"
UNWEIGHTED = "Không gia quyền (chưa nhập khung mẫu)"
VERDICT_VI = {
    Verdict.MET: "đạt",
    Verdict.NOT_MET: "không đạt",
    Verdict.INCONCLUSIVE: "chưa đủ căn cứ",
}
CHANNEL_VI = {
    "kiosk": "Máy tính bảng tại quầy",
    "qr_counter": "Mã QR tại quầy",
    "qr_dossier": "Mã QR trên hồ sơ",
    "web": "Trang web",
    "paper_entry": "Phiếu giấy (cán bộ nhập)",
    "interviewer": "Điều tra viên",
}
DEMOGRAPHICS = ("gender", "ethnicity", "age_band", "education", "occupation")
VIEW_QUESTION = re.compile(r"^c[1-8](_|$)")  # Câu 1–8 of the annual design (not c10_…)
EXPECTATION_SCALE = "WANT4"
LOW_N_EFF = 30

COLUMN_KINDS = ("text", "int", "share", "points", "number")


@dataclass(frozen=True)
class Column:
    """A table column: `share` cells hold 0–1 fractions, `points` percentage points."""

    key: str
    header: str
    kind: str = "text"


@dataclass
class ReportTable:
    number: int
    title: str
    columns: tuple[Column, ...]
    rows: list[tuple] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    available: bool = True

    @property
    def key(self) -> str:
        return f"bang{self.number}"


@dataclass
class UnitRow:
    """One unit's figures for Bảng 1 and 2."""

    unit: Unit
    headline: Figure
    factors: dict[str, Figure]
    contents: dict[str, Figure]
    target: ApplicableTarget
    previous: Figure | None = None
    change: Change | None = None
    rank: int | None = None
    previous_rank: int | None = None


@dataclass
class AnnualReport:
    unit: Unit
    year: int
    period: Period
    questionnaire_key: str
    version: int
    formula_version: str
    weighted: bool
    weighting: str
    interval_method: str
    include_staff_entered: bool
    confidence: float
    min_n: int
    rows: list[UnitRow]
    tables: list[ReportTable]
    notes: list[str] = field(default_factory=list)

    def metadata(self) -> list[tuple[str, str]]:
        """What every table states (sipas.md §6), as (label, value) pairs in Vietnamese."""
        return [
            ("Đơn vị", f"{self.unit.name_vi} ({self.unit.code})"),
            (
                "Kỳ báo cáo",
                f"Năm {self.year}: {self.period.start:%d/%m/%Y} – {self.period.end:%d/%m/%Y}",
            ),
            (
                "Bảng hỏi",
                f"{self.questionnaire_key} phiên bản {self.version}; "
                f"công thức {self.formula_version}",
            ),
            ("Gia quyền", self.weighting),
            ("Khoảng tin cậy", self.interval_method),
            (
                "Phiếu do cán bộ nhập",
                "có tính" if self.include_staff_entered else "không tính",
            ),
        ]

    def table(self, number: int) -> ReportTable:
        for table in self.tables:
            if table.number == number:
                return table
        raise KeyError(number)


# --- building ---------------------------------------------------------------------------------


def build_annual_report(
    root: Unit,
    units: list[Unit],
    year: int,
    *,
    questionnaire_key: str = "sipas-counter",
    include_staff_entered: bool = False,
    confidence: float = 0.95,
    min_n: int = 30,
    default_target: float = 0.90,
) -> AnnualReport:
    """The report for `root`'s subtree: `units` are the units to list (root first; units merged
    into another are left out, their history counts under their successor). Raises
    ValidationError for an unknown questionnaire or a year out of range."""
    if questionnaire_key not in REPORT_QUESTIONNAIRES:
        raise ValidationError(
            {"questionnaire": [f"must be one of {', '.join(REPORT_QUESTIONNAIRES)}"]}
        )
    if not 2000 <= year <= 2100:
        raise ValidationError({"year": ["must be a year such as 2025"]})
    units = [root] + [u for u in units if u.id != root.id and u.merged_into_id is None]
    period = period_of("year", date(year, 1, 1))
    filters = Filters(
        questionnaire_key=questionnaire_key,
        period=period,
        include_staff_entered=include_staff_entered,
        confidence=confidence,
        min_n=min_n,
        default_target=default_target,
    )
    builder = FigureBuilder(units, filters)
    definition = builder.definition
    frame = load_frame(year, list(builder.subtree_paths))
    notes: list[str] = []
    if frame:
        rows, weighted_items, notes = _weighted_rows(builder, units, frame, year)
        weighting = (
            f"Gia quyền theo khung mẫu năm {year}: tầng = đơn vị × lĩnh vực; trọng số = số hồ sơ "
            "/ số phiếu của tầng; có hiệu chỉnh quần thể hữu hạn (FPC)"
        )
        interval = (
            f"{confidence:.0%} logit theo thiết kế (tuyến tính hoá Taylor, người trả lời là cụm, "
            "t với bậc tự do = số phiếu − số tầng); hiệu ứng thiết kế (deff) và n hiệu dụng kèm "
            "theo; tăng/giảm: ± z·√(se₁² + se₂²)"
        )
    else:
        rows, weighted_items = _unweighted_rows(builder, units), None
        weighting = UNWEIGHTED
        interval = (
            f"{confidence:.0%}: chỉ số — logit, phương sai tuyến tính hoá với người trả lời là "
            "cụm; tỷ lệ một câu hỏi — Wilson; tăng/giảm — ± z·√(se₁² + se₂²) (chỉ số), Newcombe "
            "(tỷ lệ)"
        )
    _rank(rows)
    details = builder.for_unit(root, details=True)
    questionnaire_version = _current_version(questionnaire_key)
    report = AnnualReport(
        unit=root,
        year=year,
        period=period,
        questionnaire_key=questionnaire_key,
        version=questionnaire_version,
        formula_version=definition.formula_version,
        weighted=bool(frame),
        weighting=weighting,
        interval_method=interval,
        include_staff_entered=include_staff_entered,
        confidence=confidence,
        min_n=min_n,
        rows=rows,
        tables=[],
        notes=notes,
    )
    report.tables = [
        _table_ranking(rows),
        _table_components(definition, rows),
        _table_questions(definition, details.questions, weighted_items, filters),
        _table_views(definition, details.questions),
        _table_expectations(definition, details.questions, filters),
        _table_sample(definition, details.questions, _channel_counts(builder)),
    ]
    if frame:
        for number in (4, 5, 6):
            report.table(number).notes.append("Bảng này không gia quyền (số phiếu thực tế).")
    return report


def _current_version(key: str) -> int:
    return get_current_questionnaire(key)[0].version


def _contents_of(report: "analytics.IndexReport | None") -> dict[str, Figure]:
    if report is None:
        return {}
    return {key: figure_from_index(f) for key, f in report.contents.items()} | {
        "index": figure_from_index(report.index)
    }


def _judged(figure: Figure, target: float) -> Figure:
    """The figure with its verdict against `target` (statistics.md §2)."""
    if not figure.shown:
        return figure
    return replace(figure, verdict=verdict(figure, target))


def _unweighted_rows(builder: FigureBuilder, units: list[Unit]) -> list[UnitRow]:
    rows = []
    for unit in units:
        figures = builder.for_unit(unit)
        # Contents only (no target: verdicts and "responses to settle" are costly per figure).
        report = builder.index_report_of(builder.source, unit, None, None)
        rows.append(
            UnitRow(
                unit,
                figures.headline,
                figures.factors,
                _contents_of(report),
                figures.target,
                figures.previous,
                figures.change,
            )
        )
    return rows


def _rank(rows: list[UnitRow]) -> None:
    """Rank the units below the root by their figure (1 = highest); the root is the total."""
    for attribute, rank_attribute in (("headline", "rank"), ("previous", "previous_rank")):
        shown = [r for r in rows[1:] if getattr(r, attribute) and getattr(r, attribute).shown]
        shown.sort(key=lambda r: -getattr(r, attribute).estimate)
        for i, row in enumerate(shown, 1):
            setattr(row, rank_attribute, i)


# --- the weighted (design-based) path -----------------------------------------------------------


def load_frame(year: int, unit_ids: list[int]) -> dict[tuple[int, str], int]:
    """(unit_id, service_area) -> transactions of the year's frame within `unit_ids`."""
    if not unit_ids:
        return {}
    rows = db.session.execute(
        select(SamplingFrame.unit_id, SamplingFrame.service_area, SamplingFrame.transactions).where(
            SamplingFrame.year == year, SamplingFrame.unit_id.in_(unit_ids)
        )
    )
    return {(unit_id, area): int(n) for unit_id, area, n in rows}


@dataclass
class DesignData:
    """One year's respondents of a subtree as arrays: raw answer values (NaN: no answer) per
    item, and each respondent's unit and stratum (unit id, service area)."""

    item_keys: list[str]
    values: np.ndarray
    unit_ids: np.ndarray
    strata: list[tuple[int, str]]


def load_design_data(
    unit_ids: list[int],
    questionnaire_ids: list[int],
    period: Period,
    entered_by: tuple[str, ...],
    item_keys: list[str],
) -> DesignData:
    """Two queries (respondents with their stratum; the answers to `item_keys`), no ORM rows."""
    where = (
        Response.unit_id.in_(unit_ids),
        Response.questionnaire_id.in_(questionnaire_ids),
        Response.local_day.between(period.start, period.end),
        Response.entered_by.in_(entered_by),
    )
    respondents = db.session.execute(
        select(Response.id, Response.unit_id, Counter.service_area)
        .outerjoin(Counter, Counter.id == Response.counter_id)
        .where(*where)
    ).all()
    row_of = {rid: i for i, (rid, _, _) in enumerate(respondents)}
    column_of = {key: j for j, key in enumerate(item_keys)}
    values = np.full((len(respondents), len(item_keys)), np.nan)
    if respondents and item_keys:
        answers = db.session.execute(
            select(Answer.response_id, Answer.question_key, Answer.value)
            .join(Response, Response.id == Answer.response_id)
            .where(*where, Answer.question_key.in_(item_keys), Answer.value.is_not(None))
        )
        for rid, key, value in answers:
            values[row_of[rid], column_of[key]] = value
    return DesignData(
        list(item_keys),
        values,
        np.array([u for _, u, _ in respondents], dtype=np.int64),
        [(u, area or NOT_CLASSIFIED) for _, u, area in respondents],
    )


@dataclass
class WeightedDesign:
    """Weights and population per respondent/stratum after matching the data to the frame."""

    keep: np.ndarray  # respondents that could be weighted
    weights: np.ndarray
    strata: list[str]
    population: dict[str, float]
    notes: list[str]


def _stratum_label(stratum: tuple[int, str]) -> str:
    return f"{stratum[0]}|{stratum[1]}"


def weight_design(data: DesignData, frame: dict[tuple[int, str], int]) -> WeightedDesign:
    """Weights = transactions / responses per stratum, and N_h = transactions (FPC). Responses
    in strata the frame lacks are left out; a frame smaller than its responses is raised to the
    responses (a census of that stratum), and both are noted."""
    sizes: dict[tuple[int, str], int] = defaultdict(int)
    for stratum in data.strata:
        sizes[stratum] += 1
    notes = []
    outside = {s: n for s, n in sizes.items() if s not in frame}
    if outside:
        notes.append(
            f"{sum(outside.values())} phiếu thuộc {len(outside)} tầng không có trong khung mẫu "
            "nên không được tính vào số liệu gia quyền."
        )
    population: dict[str, float] = {}
    weight_of: dict[tuple[int, str], float] = {}
    raised = 0
    for stratum, n in sizes.items():
        if stratum in outside:
            continue
        big_n = frame[stratum]
        if big_n < n:
            raised += 1
            big_n = n
        population[_stratum_label(stratum)] = float(big_n)
        weight_of[stratum] = big_n / n
    if raised:
        notes.append(
            f"{raised} tầng có số phiếu lớn hơn số hồ sơ trong khung mẫu: coi như khảo sát toàn bộ."
        )
    keep = np.array([s in weight_of for s in data.strata], dtype=bool)
    weights = np.array([weight_of.get(s, 0.0) for s in data.strata])
    strata = [_stratum_label(s) for s in data.strata]
    return WeightedDesign(keep, weights, strata, population, notes)


def _variance_strata(
    strata: list[str], population: dict[str, float]
) -> tuple[list[str], dict[str, float], int]:
    """Collapse strata holding a single respondent into one pooled stratum (for the variance
    only); a pooled stratum of one respondent is taken with certainty (N = n)."""
    counts: dict[str, int] = defaultdict(int)
    for label in strata:
        counts[label] += 1
    lonely = {label for label, n in counts.items() if n == 1 and population[label] > 1}
    if not lonely:
        return strata, {label: population[label] for label in counts}, 0
    pooled = "(gộp)"
    relabelled = [pooled if label in lonely else label for label in strata]
    sizes = {label: population[label] for label in counts if label not in lonely}
    sizes[pooled] = sum(population[label] for label in lonely)
    if len(lonely) == 1:
        sizes[pooled] = 1.0
    return relabelled, sizes, len(lonely)


def weighted_index(
    data: DesignData,
    design: WeightedDesign,
    grouping: "analytics.IndexGrouping",
    positive: dict[str, frozenset[int]],
    selected: np.ndarray,
    *,
    target: float | None,
    confidence: float,
    min_n: int,
) -> tuple["analytics.IndexReport | None", int]:
    """compose_index over the `selected` respondents' own strata; (report, collapsed strata)."""
    rows = selected & design.keep
    if not rows.any():
        return None, 0
    answers = _positive_matrix(data.values[rows], data.item_keys, positive)
    strata = [label for label, keep in zip(design.strata, rows, strict=True) if keep]
    strata, population, collapsed = _variance_strata(strata, design.population)
    report = compose_index(
        answers,
        data.item_keys,
        grouping,
        weights=design.weights[rows],
        strata=strata,
        population=population,
        confidence=confidence,
        target=target,
        min_n=min_n,
    )
    return report, collapsed


def _positive_matrix(
    values: np.ndarray, keys: list[str], positive: dict[str, frozenset[int]]
) -> np.ndarray:
    result = np.full(values.shape, np.nan)
    for j, key in enumerate(keys):
        column = values[:, j]
        answered = ~np.isnan(column)
        result[answered, j] = np.isin(column[answered], list(positive[key])).astype(float)
    return result


def _scored_questions(definition: Definition, grouping) -> list[Question]:
    """Bảng 3's questions: the scored items, then other satisfaction (SAT5) questions."""
    items = list(grouping.items)
    extra = [
        q.key
        for q in definition.questions
        if q.type == "scale" and q.scale and q.scale.key == "SAT5" and q.key not in items
    ]
    return [definition.question(k) for k in items + extra]


def _weighted_rows(
    builder: FigureBuilder, units: list[Unit], frame: dict, year: int
) -> tuple[list[UnitRow], dict, list[str]]:
    filters = builder.filters
    definition = builder.definition
    grouping = builder.source.grouping
    questions = _scored_questions(definition, grouping)
    keys = [q.key for q in questions]
    positive = {q.key: q.positive for q in questions}
    paths = builder.subtree_paths
    subtree = list(paths)

    def figures_for(period: Period, year_frame: dict):
        data = load_design_data(
            subtree, builder.questionnaire_ids, period, filters.entered_by, keys
        )
        design = weight_design(data, year_frame)
        unit_paths = np.array([paths.get(int(u), "") for u in data.unit_ids], dtype=object)
        return data, design, unit_paths

    data, design, unit_paths = figures_for(filters.period, frame)
    notes = list(design.notes)
    previous_frame = load_frame(year - 1, subtree)
    previous = figures_for(filters.period.previous(), previous_frame) if previous_frame else None
    if previous is None:
        notes.append(
            f"Năm {year - 1} chưa có khung mẫu: số liệu năm trước không gia quyền "
            "(cùng cách tính với bảng điều khiển)."
        )
    collapsed_total = 0
    rows = []
    items_report = None
    for unit in units:
        target = builder.targets[unit.id]
        selected = np.array([p.startswith(unit.path) for p in unit_paths], dtype=bool)
        report, collapsed = weighted_index(
            data,
            design,
            grouping,
            positive,
            selected,
            target=None,  # judged below: only the index needs a verdict
            confidence=filters.confidence,
            min_n=filters.min_n,
        )
        collapsed_total = max(collapsed_total, collapsed)
        if unit is units[0]:
            items_report = report
        if report is None:
            headline, factors, contents = Figure(0), {}, {}
        else:
            headline = _judged(figure_from_index(report.index), target.threshold)
            factors = {k: figure_from_index(f) for k, f in report.factors.items()}
            contents = _contents_of(report)
        if previous is not None:
            p_data, p_design, p_paths = previous
            p_selected = np.array([p.startswith(unit.path) for p in p_paths], dtype=bool)
            p_report, _ = weighted_index(
                p_data,
                p_design,
                grouping,
                positive,
                p_selected,
                target=None,
                confidence=filters.confidence,
                min_n=filters.min_n,
            )
            last = figure_from_index(p_report.index) if p_report is not None else Figure(0)
        else:
            last, _, _ = builder.headline_of(
                builder.previous, unit, None, target.threshold, with_factors=False
            )
        change = change_between(headline, last, filters.confidence)
        rows.append(UnitRow(unit, headline, factors, contents, target, last, change))
    if collapsed_total:
        notes.append(
            "Tầng chỉ có một phiếu được gộp lại để ước lượng phương sai (trọng số giữ nguyên)."
        )
    weighted_items = {
        "report": items_report,
        "data": data,
        "design": design,
        "selected": np.array([p.startswith(units[0].path) for p in unit_paths], dtype=bool),
    }
    return rows, weighted_items, notes


# --- the tables -----------------------------------------------------------------------------


def _share_cells(figure: Figure | None) -> tuple:
    if figure is None or not figure.shown:
        return (None, None, None)
    return (figure.estimate, figure.low, figure.high)


def _verdict_text(figure: Figure, min_n: int | None = None) -> str:
    if figure.n == 0:
        return "không có phiếu"
    if figure.suppressed:
        return "chưa đủ số phiếu để công bố"
    return VERDICT_VI.get(figure.verdict, "") if figure.verdict else ""


def _table_ranking(rows: list[UnitRow]) -> ReportTable:
    columns = (
        Column("rank", "Xếp hạng", "int"),
        Column("unit_code", "Mã đơn vị"),
        Column("unit", "Đơn vị"),
        Column("sipas", "Chỉ số SIPAS (%)", "share"),
        Column("low", "KTC 95 % – cận dưới (%)", "share"),
        Column("high", "KTC 95 % – cận trên (%)", "share"),
        Column("n", "n phiếu hợp lệ", "int"),
        Column("deff", "Hiệu ứng thiết kế (deff)", "number"),
        Column("n_eff", "n hiệu dụng", "number"),
        Column("previous", "Năm trước (%)", "share"),
        Column("change", "Tăng/giảm (điểm %)", "points"),
        Column("change_low", "Tăng/giảm – cận dưới (điểm %)", "points"),
        Column("change_high", "Tăng/giảm – cận trên (điểm %)", "points"),
        Column("significant", "Thay đổi có ý nghĩa thống kê"),
        Column("previous_rank", "Thứ hạng năm trước", "int"),
        Column("target", "Mục tiêu (%)", "share"),
        Column("verdict", "Kết luận"),
    )
    table = ReportTable(1, "Bảng 1 – Xếp hạng", columns)
    ordered = rows[:1] + sorted(rows[1:], key=lambda r: (r.rank is None, r.rank or 0))
    low_n_eff = []
    for row in ordered:
        h = row.headline
        change = row.change
        table.rows.append(
            (
                row.rank,
                row.unit.code,
                row.unit.name_vi,
                *_share_cells(h),
                h.n,
                h.deff if h.shown else None,
                h.n_eff if h.shown else None,
                row.previous.estimate if row.previous and row.previous.shown else None,
                change.estimate * 100 if change else None,
                change.low * 100 if change else None,
                change.high * 100 if change else None,
                ("có" if change.significant else "không") if change else None,
                row.previous_rank,
                row.target.threshold,
                _verdict_text(h),
            )
        )
        if h.shown and h.n_eff is not None and h.n_eff < LOW_N_EFF:
            low_n_eff.append(row.unit.code)
    table.notes.append(
        "Dòng đầu là toàn bộ đơn vị được chọn (không xếp hạng); các đơn vị cấp dưới được xếp "
        "theo chỉ số, mỗi đơn vị tính trên toàn bộ cây đơn vị của nó."
    )
    if low_n_eff:
        table.notes.append(f"n hiệu dụng dưới {LOW_N_EFF}: {', '.join(low_n_eff)}.")
    return table


def _component_keys(definition: Definition) -> list[tuple[str, str]]:
    """(key, Vietnamese label) of Bảng 2's figures: service factors and index, then policy."""
    labels = []
    contents = {c.key: c for c in definition.contents}
    factors = {f.key: f for f in definition.factors}
    for content_key, content_label in (
        ("service", "Chỉ số dịch vụ"),
        ("policy", "Chỉ số chính sách"),
    ):
        if content_key not in contents:
            continue
        for factor_key in contents[content_key].factors:
            factor = factors[factor_key]
            label = factor.label.vi
            if not label.startswith(("I.", factor_key)):
                label = f"{factor_key}. {label}"
            labels.append((f"factor:{factor_key}", label))
        labels.append((f"content:{content_key}", content_label))
    labels.append(("index", "SIPAS"))
    return labels


def _table_components(definition: Definition, rows: list[UnitRow]) -> ReportTable:
    keys = _component_keys(definition)
    columns = [
        Column("unit_code", "Mã đơn vị"),
        Column("unit", "Đơn vị"),
        Column("n", "n phiếu hợp lệ", "int"),
    ]
    for key, label in keys:
        slug = key.replace(":", "_")
        columns += [
            Column(slug, f"{label} (%)", "share"),
            Column(f"{slug}_low", f"{label} – KTC dưới (%)", "share"),
            Column(f"{slug}_high", f"{label} – KTC trên (%)", "share"),
        ]
    table = ReportTable(2, "Bảng 2 – Chỉ số thành phần", tuple(columns))
    for row in rows:
        cells: list = [row.unit.code, row.unit.name_vi, row.headline.n]
        for key in (k for k, _ in keys):
            if key.startswith("factor:"):
                figure = row.factors.get(key.split(":", 1)[1])
            elif key.startswith("content:"):
                figure = row.contents.get(key.split(":", 1)[1])
            else:
                figure = row.headline
            cells += _share_cells(figure)
        table.rows.append(tuple(cells))
    return table


def _level_columns(question: Question) -> list[Column]:
    options = question.scale.options if question.scale else question.options
    return [Column(f"level_{o.value}", f"% {o.value} – {o.label.vi}", "share") for o in options]


def _table_questions(
    definition: Definition,
    questions: dict[str, QuestionFigures],
    weighted: dict | None,
    filters: Filters,
) -> ReportTable:
    scored = _scored_questions(definition, grouping_of(definition))
    first = scored[0]
    columns = (
        Column("key", "Mã câu hỏi"),
        Column("question", "Tiêu chí"),
        Column("n", "n trả lời", "int"),
        *_level_columns(first),
        Column("satisfied", "% hài lòng (4+5)", "share"),
        Column("low", "KTC 95 % – cận dưới (%)", "share"),
        Column("high", "KTC 95 % – cận trên (%)", "share"),
        Column("deff", "Hiệu ứng thiết kế (deff)", "number"),
    )
    table = ReportTable(3, "Bảng 3 – Tiêu chí", columns)
    levels = [o.value for o in (first.scale.options if first.scale else first.options)]
    for question in scored:
        if weighted is not None and weighted["report"] is not None:
            row = _weighted_question_row(question, levels, weighted, filters)
        else:
            counts = questions.get(question.key)
            values = dict(counts.counts) if counts else {}
            n = sum(values.values())
            figure = (
                counts.figure
                if counts and counts.figure
                else share_figure(
                    0, 0, target=None, confidence=filters.confidence, min_n=filters.min_n
                )
            )
            shown = n >= filters.min_n and n > 0
            shares = [values.get(v, 0) / n if shown else None for v in levels]
            row = (n, *shares, *_share_cells(figure), None)
        table.rows.append((question.key, question.text.vi, *row))
    table.notes.append(
        f"Dưới {filters.min_n} câu trả lời chỉ ghi số lượng, không ghi tỷ lệ. "
        "“Không biết/không áp dụng” và câu bỏ trống không tính vào mẫu số."
    )
    return table


def _weighted_question_row(question, levels, weighted, filters) -> tuple:
    data: DesignData = weighted["data"]
    design: WeightedDesign = weighted["design"]
    rows = weighted["selected"] & design.keep
    column = data.values[rows, data.item_keys.index(question.key)]
    w = design.weights[rows]
    answered = ~np.isnan(column)
    n = int(answered.sum())
    figure = weighted["report"].items.get(question.key)
    if n < filters.min_n or figure is None or figure.suppressed:
        return (n, *[None] * len(levels), None, None, None, None)
    total = float(w[answered].sum())
    shares = [float(w[answered & (column == v)].sum()) / total for v in levels]
    return (n, *shares, figure.estimate, figure.low, figure.high, figure.deff)


def _not_in_questionnaire(number: int, title: str, definition: Definition) -> ReportTable:
    return ReportTable(
        number,
        title,
        (Column("note", "Ghi chú"),),
        [(f"Không thuộc bảng hỏi này ({definition.key}).",)],
        [f"Bảng hỏi {definition.key} không có các câu hỏi của bảng này."],
        available=False,
    )


def _option_labels(question: Question) -> list[tuple[int, str]]:
    options = question.scale.options if question.scale else question.options
    return [(o.value, o.label.vi) for o in options]


def _table_views(definition: Definition, questions: dict[str, QuestionFigures]) -> ReportTable:
    title = "Bảng 4 – Nhận định"
    views = [q for q in definition.questions if VIEW_QUESTION.match(q.key) and q.type != "text"]
    if not views:
        return _not_in_questionnaire(4, title, definition)
    columns = (
        Column("key", "Mã câu hỏi"),
        Column("question", "Câu hỏi"),
        Column("value", "Giá trị", "int"),
        Column("option", "Phương án"),
        Column("count", "Số lượt chọn", "int"),
        Column("n", "n trả lời", "int"),
        Column("share", "Tỷ lệ (%)", "share"),
    )
    table = ReportTable(4, title, columns)
    for question in views:
        counts = dict(questions[question.key].counts) if question.key in questions else {}
        if question.type == "multi":
            n = counts.get(ANSWERED_MARKER, 0)
        else:
            n = sum(c for v, c in counts.items() if v != ANSWERED_MARKER)
        for value, label in _option_labels(question):
            count = counts.get(value, 0)
            table.rows.append(
                (question.key, question.text.vi, value, label, count, n, count / n if n else None)
            )
    table.notes.append(
        "Câu hỏi nhiều lựa chọn (Câu 2): tỷ lệ trên số người trả lời câu đó, tổng có thể vượt 100 %."
    )
    return table


def _table_expectations(
    definition: Definition, questions: dict[str, QuestionFigures], filters: Filters
) -> ReportTable:
    title = "Bảng 5 – Mong đợi"
    items = [
        q
        for q in definition.questions
        if q.type == "scale" and q.scale and q.scale.key == EXPECTATION_SCALE
    ]
    if not items:
        return _not_in_questionnaire(5, title, definition)
    columns = (
        Column("key", "Mã câu hỏi"),
        Column("item", "Nội dung mong đợi"),
        Column("n", "n trả lời", "int"),
        *_level_columns(items[0]),
        Column("wanted", "% mong muốn + rất mong muốn", "share"),
        Column("low", "KTC 95 % – cận dưới (%)", "share"),
        Column("high", "KTC 95 % – cận trên (%)", "share"),
    )
    table = ReportTable(5, title, columns)
    levels = [v for v, _ in _option_labels(items[0])]
    rows = []
    for question in items:
        counts = dict(questions[question.key].counts) if question.key in questions else {}
        n = sum(counts.values())
        wanted = sum(c for v, c in counts.items() if v in question.positive)
        figure = share_figure(
            wanted, n, target=None, confidence=filters.confidence, min_n=filters.min_n
        )
        shares = [counts.get(v, 0) / n if figure.shown else None for v in levels]
        rows.append((question.key, question.text.vi, n, *shares, *_share_cells(figure)))
    rows.sort(key=lambda r: (r[-3] is None, -(r[-3] or 0)))
    table.rows = rows
    table.notes.append("Sắp xếp theo tỷ lệ mong muốn + rất mong muốn, cao nhất trước.")
    return table


def _channel_counts(builder: FigureBuilder) -> dict[str, int]:
    """Responses per channel in the period: summed from the index moments' respondent counts
    (month rows and edge days) where the questionnaire has an index, else counted."""
    f = builder.filters
    if builder.source.grouping is not None:
        return dict(builder.source.respondents_by_channel)
    rows = db.session.execute(
        select(Response.channel, func.count())
        .where(
            Response.unit_id.in_(list(builder.subtree_paths)),
            Response.questionnaire_id.in_(builder.questionnaire_ids),
            Response.local_day.between(f.period.start, f.period.end),
            Response.entered_by.in_(f.entered_by),
        )
        .group_by(Response.channel)
    )
    return {channel: int(n) for channel, n in rows}


def _table_sample(
    definition: Definition, questions: dict[str, QuestionFigures], channels: dict[str, int]
) -> ReportTable:
    columns = (
        Column("characteristic", "Đặc điểm"),
        Column("group", "Nhóm"),
        Column("count", "Số phiếu", "int"),
        Column("share", "Tỷ lệ (%)", "share"),
    )
    table = ReportTable(6, "Bảng 6 – Cơ cấu mẫu", columns)
    present = [k for k in DEMOGRAPHICS if k in {q.key for q in definition.questions}]
    for key in present:
        question = definition.question(key)
        counts = dict(questions[key].counts) if key in questions else {}
        n = sum(counts.values())
        for value, label in _option_labels(question):
            count = counts.get(value, 0)
            table.rows.append((question.text.vi, label, count, count / n if n else None))
    total = sum(channels.values())
    for channel in CHANNELS:
        if channels.get(channel):
            count = channels[channel]
            table.rows.append(("Kênh", CHANNEL_VI[channel], count, count / total))
    if not present:
        table.notes.append(
            f"Bảng hỏi {definition.key} không hỏi thông tin nhân khẩu học: chỉ có cơ cấu theo kênh."
        )
    table.notes.append("Tỷ lệ nhân khẩu học trên số người trả lời từng câu.")
    return table
