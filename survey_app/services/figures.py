"""Satisfaction figures for staff: per unit (rolled up over its subtree) and per counter, for a
period, questionnaire, channels and whether staff-keyed forms count.

The database does the counting: answer counts and index moments are summed with GROUP BY over
small tables (cost follows cells, not responses), and the analytics package turns the sums into
shares, indices, intervals and verdicts.
"""

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import func, or_, select

import analytics
from analytics import Verdict, difference_ci, proportion_ci, responses_to_settle, verdict
from analytics.proportion import z_value
from questionnaires import Definition
from survey_app.extensions import db
from survey_app.models import (
    CHANNELS,
    ENTERED_BY,
    AnswerCount,
    Counter,
    IndexMoment,
    MonthlyAnswerCount,
    Questionnaire,
    Response,
    SubtreeMoment,
    Unit,
    YearlyAnswerCount,
)
from survey_app.services.periods import Period, whole_years
from survey_app.services.questionnaires import definition_of, get_current_questionnaire, grouping_of
from survey_app.services.rollup import Backlog, settle_if_short, settle_pending
from survey_app.services.sql import BINARY_RESULTS
from survey_app.services.targets import ApplicableTarget, resolve_targets
from survey_app.services.units import list_subtree_unit_ids, path_ids

CHANNEL_GROUPS = {
    "kiosk": ("kiosk",),
    "qr": ("qr_counter", "qr_dossier"),
    "web": ("web",),
    "paper": ("paper_entry", "interviewer"),
}


@dataclass(frozen=True)
class Filters:
    questionnaire_key: str
    period: Period
    channels: tuple[str, ...] = CHANNELS
    include_staff_entered: bool = False
    confidence: float = 0.95
    min_n: int = 30
    default_target: float = 0.90

    @property
    def entered_by(self) -> tuple[str, ...]:
        return ("citizen", "staff") if self.include_staff_entered else ("citizen",)

    def conditions_on(self, table) -> list:
        """The channel and entered-by conditions on a counts or moments table. A filter that
        lets every value through is left out: the database then compares nothing per row (a
        province's year of counts: 30 ms with the six-channel test, 15 without)."""
        conditions = []
        if set(self.channels) != set(CHANNELS):
            conditions.append(table.channel.in_(self.channels))
        if set(self.entered_by) != set(ENTERED_BY):
            conditions.append(table.entered_by.in_(self.entered_by))
        return conditions


@dataclass(frozen=True)
class Figure:
    """A share or an index with its interval and verdict; no percentage below the minimum n."""

    n: int
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    verdict: Verdict | None = None
    more_responses: int | None = None
    suppressed: bool = False
    method: str | None = None
    positive: int | None = None  # simple shares: the count behind the estimate
    se: float | None = None  # indices: the linearised standard error
    deff: float | None = None  # indices: design effect (analytics.IndexFigure.deff)
    n_eff: float | None = None  # indices: effective number of answers (IndexFigure.n_eff)

    @property
    def shown(self) -> bool:
        return self.estimate is not None and not self.suppressed


def share_figure(
    positive: int, n: int, *, target: float | None, confidence: float, min_n: int
) -> Figure:
    """A simple share from counts: Wilson interval (statistics.md §1), verdict against `target`."""
    if n == 0:
        return Figure(0)
    if n < min_n:
        return Figure(n, suppressed=True)
    interval = proportion_ci(positive, n, confidence=confidence, method="wilson")
    judged = verdict(interval, target) if target is not None else None
    more = None
    if judged is Verdict.INCONCLUSIVE:
        more = responses_to_settle(positive, n, target, confidence=confidence)
    return Figure(
        n,
        interval.estimate,
        interval.low,
        interval.high,
        judged,
        more,
        False,
        "wilson",
        positive=positive,
    )


def figure_from_index(figure: "analytics.IndexFigure") -> Figure:
    """An analytics index figure as the dashboard's Figure (with its SE, deff and n_eff)."""
    return Figure(
        figure.n,
        figure.estimate,
        figure.low,
        figure.high,
        figure.verdict,
        figure.more_responses,
        figure.suppressed,
        figure.method,
        se=figure.se,
        deff=figure.deff,
        n_eff=figure.n_eff,
    )


@dataclass(frozen=True)
class Change:
    """The difference from the previous period, in share points, with its interval."""

    estimate: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass
class QuestionFigures:
    key: str
    counts: dict[int, int]  # value → answers
    figure: Figure | None  # share positive, for questions with positive values


@dataclass
class UnitFigures:
    """Everything the dashboard shows about one unit (its subtree) or one counter."""

    unit: Unit
    counter: Counter | None
    respondents: int
    headline: Figure
    target: ApplicableTarget
    previous: Figure | None = None
    change: Change | None = None
    factors: dict[str, Figure] = field(default_factory=dict)
    questions: dict[str, QuestionFigures] = field(default_factory=dict)
    # Responses in these figures that the citizen left unfinished (`Response.complete` false):
    # their answers count in the item shares.
    incomplete: int = 0

    @property
    def below_target(self) -> bool:
        return self.headline.verdict is Verdict.NOT_MET


class _Source:
    """Sums for one questionnaire over a period: index moments per unit (its whole subtree, from
    `subtree_moments`) and per counter (`index_moments`, read when a counter is asked for), and
    answer counts keyed by (unit_id, counter_key)."""

    def __init__(
        self,
        definition: Definition,
        questionnaire_ids: list[int],
        units: Sequence[Unit],
        subtree_ids: Sequence[int],
        filters: Filters,
        period: Period,
    ):
        self.definition = definition
        self.grouping = grouping_of(definition)
        self._questionnaire_ids = questionnaire_ids
        self._filters = filters
        self._period = period
        self.unit_moments: dict[int, tuple[int, analytics.IndexMoments]] = {}
        self.respondents_by_channel: dict[str, int] = defaultdict(int)
        self._counter_moments: dict[int, dict[int, tuple[int, analytics.IndexMoments]]] = {}
        self._count_tables = _count_tables(period, subtree_ids, questionnaire_ids, filters)
        # Answer counts are read when first needed: an overview of an index questionnaire needs
        # only the moments, a quick-rating overview only its headline question.
        self._counts: dict[str, dict] = {}
        self._cells_by_unit: dict[int, list[tuple[int, int]]] | None = None
        if self.grouping is not None and units:
            self._read_unit_moments(units)

    def _moment_rows(self, model, key, *conditions):
        """(unit_id, key, channel, respondents, blob) rows of a moments table in the period."""
        f = self._filters
        return db.session.execute(
            select(model.unit_id, key, model.channel, model.respondents, model.moments)
            .where(
                *conditions,
                model.questionnaire_id.in_(self._questionnaire_ids),
                *f.conditions_on(model),
                _in_period(model, self._period),
            )
            .execution_options(**BINARY_RESULTS)
        )

    def _summed(self, rows) -> dict:
        """key → (respondents, moments) from (unit_id, key, channel, respondents, blob) rows."""
        blobs, respondents = [], defaultdict(int)
        for _, key, _, n, blob in rows:
            blobs.append((key, blob))
            respondents[key] += n
        summed = analytics.IndexMoments.sum_bytes_by(blobs, self.grouping.items, self.grouping)
        return {key: (respondents[key], moments) for key, moments in summed.items()}

    def _read_unit_moments(self, units: Sequence[Unit]) -> None:
        """Each unit's subtree sums; responses per channel from the units no other one holds."""
        ids = [unit.id for unit in units]
        rows = list(
            self._moment_rows(SubtreeMoment, SubtreeMoment.unit_id, SubtreeMoment.unit_id.in_(ids))
        )
        self.unit_moments = self._summed(rows)
        chosen = set(ids)
        outermost = {u.id for u in units if chosen.isdisjoint(path_ids(u.path)[:-1])}
        for unit_id, _, channel, n, _ in rows:
            if unit_id in outermost:
                self.respondents_by_channel[channel] += n

    def moments_of(
        self, unit: Unit, counter: Counter | None = None
    ) -> "tuple[int, analytics.IndexMoments | None]":
        """(respondents, moments) of `unit`'s subtree (`unit` is one of the builder's units, as
        for its targets), or of one of its counters; (0, None) where nobody answered."""
        if self.grouping is None:
            return 0, None
        if counter is None:
            return self.unit_moments.get(unit.id, (0, None))
        if unit.id not in self._counter_moments:
            rows = self._moment_rows(
                IndexMoment, IndexMoment.counter_key, IndexMoment.unit_id == unit.id
            )
            self._counter_moments[unit.id] = self._summed(rows)
        return self._counter_moments[unit.id].get(counter.id, (0, None))

    def counts_of(self, question_key: str) -> dict[tuple[int, int], dict[str, dict[int, int]]]:
        """(unit_id, counter_key) → question → value → answers, for one question."""
        if question_key not in self._counts:
            counts: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
            for table, where in self._count_tables:
                group = (table.unit_id, table.counter_key, table.question_key, table.value)
                query = (
                    select(*group, func.sum(table.n))
                    .where(*where, table.question_key == question_key)
                    .group_by(*group)
                )
                for unit_id, counter_key, key, value, n in db.session.execute(query):
                    counts[(unit_id, counter_key)][key][value] += int(n)
            self._counts[question_key] = counts
        return self._counts[question_key]

    def summed_counts(
        self, unit_ids: Collection[int], counter_key: int | None = None
    ) -> dict[str, dict[int, int]]:
        """question → value → answers, summed in the database over `unit_ids` (and one counter):
        a page's question table needs its subtree's totals, not every cell's counts."""
        totals: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for table, where in self._count_tables:
            query = (
                select(table.question_key, table.value, func.sum(table.n))
                .where(*where, table.unit_id.in_(unit_ids))
                .group_by(table.question_key, table.value)
            )
            if counter_key is not None:
                query = query.where(table.counter_key == counter_key)
            for key, value, n in db.session.execute(query):
                totals[key][value] += int(n)
        return totals

    def cell_keys_by_unit(self) -> dict[int, list[tuple[int, int]]]:
        """unit_id → its (unit_id, counter_key) cells with headline counts (read once)."""
        if self._cells_by_unit is None:
            self._cells_by_unit = defaultdict(list)
            for key in self.counts_of(self.definition.headline):
                self._cells_by_unit[key[0]].append(key)
        return self._cells_by_unit


def _in_period(model, period: Period):
    """The condition selecting `period`'s rows of a moments table: whole years, then whole
    months, then the days at its edges."""
    years, months, edges = whole_years(period)
    selected = []
    for granularity, starts in (("year", years), ("month", months)):
        if starts:
            selected.append((model.granularity == granularity) & model.period_start.in_(starts))
    for start, end in edges:
        selected.append((model.granularity == "day") & model.period_start.between(start, end))
    return or_(*selected)


def _count_tables(period: Period, unit_ids, questionnaire_ids, filters: Filters) -> list[tuple]:
    """(table, conditions) to sum for `period`: yearly sums for the calendar years it covers
    entirely, monthly sums for its other whole months, daily counts for the days at its edges
    (a year reads one row per cell, not ~300)."""
    years, months, edges = whole_years(period)
    selected = []
    if years:
        selected.append((YearlyAnswerCount, YearlyAnswerCount.year.in_(years)))
    if months:
        selected.append((MonthlyAnswerCount, MonthlyAnswerCount.month.in_(months)))
    if edges:
        days = or_(*(AnswerCount.local_day.between(start, end) for start, end in edges))
        selected.append((AnswerCount, days))
    return [
        (
            table,
            (
                table.unit_id.in_(unit_ids),
                table.questionnaire_id.in_(questionnaire_ids),
                *filters.conditions_on(table),
                in_period,
            ),
        )
        for table, in_period in selected
    ]


def _questionnaire_versions(key: str) -> tuple[Definition, list[int]]:
    """The current definition and the ids of every version with the same index grouping (figures
    pool versions whose scored items did not change)."""
    _, definition = get_current_questionnaire(key)
    grouping = grouping_of(definition)
    ids = []
    for questionnaire in db.session.scalars(select(Questionnaire).where(Questionnaire.key == key)):
        other = definition_of(questionnaire)
        if grouping_of(other) == grouping:
            ids.append(questionnaire.id)
    return definition, ids


def _sum_counts(parts: Iterable[dict[str, dict[int, int]]]) -> dict[str, dict[int, int]]:
    total: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for part in parts:
        for question_key, values in part.items():
            for value, n in values.items():
                total[question_key][value] += n
    return total


class ReportCache:
    """Index reports by the exact sums and options they are computed from, per process, the least
    recently used dropped first. `index_from_moments` is a pure function of those, so a hit is
    the same report: a dashboard refreshed while nothing new was settled, and the previous
    period's figures (which rarely change), are computed once instead of on every request. New
    responses change the sums, hence the key: nothing is ever stale."""

    def __init__(self, size: int):
        self.size = size
        self._entries: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def report(
        self, moments: "analytics.IndexMoments", grouping, **options
    ) -> "analytics.IndexReport":
        # The grouping is kept in the entry, so its id cannot be reused while the entry lives.
        key = (moments.to_bytes(), id(grouping), tuple(sorted(options.items())))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is grouping:
                self._entries.move_to_end(key)
                return entry[1]
        report = analytics.index_from_moments(moments, grouping, **options)
        with self._lock:
            self._entries[key] = (grouping, report)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return report

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# A report holds ~32 KiB (its sums, variance matrix and figures; measured): 512 of them, ~16 MiB
# per worker, cover a province's pages (~140 reports) for several filter choices.
REPORTS = ReportCache(512)


class FigureBuilder:
    """Figures for a set of units (each rolled up over its subtree) and their counters.

    `live` (dashboard pages, the figures API): figures as of the last settling pass, settling
    only a short backlog; `unsettled` says what is still being added. Otherwise (annual
    reports) every acknowledged response is settled first and `unsettled` is empty."""

    def __init__(
        self,
        units: Sequence[Unit],
        filters: Filters,
        *,
        with_previous: bool = True,
        live: bool = False,
    ):
        # Either commits the session (see services/rollup.py).
        if live:
            self.unsettled = settle_if_short()
        else:
            settle_pending()
            self.unsettled = Backlog(0)
        self.filters = filters
        self.units = list(units)
        self.definition, self.questionnaire_ids = _questionnaire_versions(filters.questionnaire_key)
        # id → path of every unit in the builder's subtrees (reports read it too).
        self.subtree_paths = self._read_subtree_paths()
        self._incomplete_cells: dict[tuple[int, int | None], int] | None = None
        subtree_ids = list(self.subtree_paths)
        self.source = _Source(
            self.definition,
            self.questionnaire_ids,
            self.units,
            subtree_ids,
            filters,
            filters.period,
        )
        self.previous = (
            _Source(
                self.definition,
                self.questionnaire_ids,
                self.units,
                subtree_ids,
                filters,
                filters.period.previous(),
            )
            if with_previous
            else None
        )
        self.targets = resolve_targets(
            self.units,
            metric="headline",
            questionnaire_key=filters.questionnaire_key,
            period_kinds=filters.period.target_kinds,
            year=filters.period.end.year,
            default_threshold=filters.default_target,
        )

    def incomplete_of(self, unit: Unit, counter: Counter | None = None) -> int:
        """How many responses of `unit`'s subtree (or of one of its counters) in the period, under
        the filters, the citizen left unfinished."""
        if self._incomplete_cells is None:
            self._incomplete_cells = self._read_incomplete_cells()
        if counter is not None:
            return self._incomplete_cells.get((unit.id, counter.id), 0)
        under = set(self._ids_under(unit))
        return sum(n for (unit_id, _), n in self._incomplete_cells.items() if unit_id in under)

    def _read_incomplete_cells(self) -> dict[tuple[int, int | None], int]:
        """(unit id, counter id) → responses left unfinished, for the builder's subtrees: one
        GROUP BY that the partial index on unfinished responses answers (they are few)."""
        if not self.subtree_paths:
            return {}
        f = self.filters
        rows = db.session.execute(
            select(Response.unit_id, Response.counter_id, func.count())
            .where(
                ~Response.complete,  # as the partial index says it
                Response.unit_id.in_(list(self.subtree_paths)),
                Response.local_day.between(f.period.start, f.period.end),
                Response.questionnaire_id.in_(self.questionnaire_ids),
                Response.channel.in_(f.channels),
                Response.entered_by.in_(f.entered_by),
            )
            .group_by(Response.unit_id, Response.counter_id)
        )
        return {(unit_id, counter_id): n for unit_id, counter_id, n in rows}

    def _read_subtree_paths(self) -> dict[int, str]:
        """id → path of every unit in the builder's subtrees, read once: the sources' unit ids,
        which cells fall under which unit, and a page's question table all come from it."""
        if not self.units:
            return {}
        query = select(Unit.id, Unit.path).where(
            or_(*(Unit.path.startswith(u.path) for u in self.units))
        )
        return dict(db.session.execute(query).all())

    def _ids_under(self, unit: Unit) -> list[int]:
        return [i for i, path in self.subtree_paths.items() if path.startswith(unit.path)]

    def _keys_under(self, unit: Unit, source: _Source) -> list[tuple[int, int]]:
        by_unit = source.cell_keys_by_unit()
        return [key for unit_id in self._ids_under(unit) for key in by_unit.get(unit_id, ())]

    def index_report_of(
        self,
        source: _Source,
        unit: Unit,
        counter: Counter | None,
        target: float | None,
        settle: tuple[str, ...] = ("index",),
    ) -> "analytics.IndexReport | None":
        """Every index figure (items, factors, contents, index) of `unit`'s subtree or one of its
        counters; None for a questionnaire without an index or without any moments there. Only
        the `settle` levels get "responses to settle" (a t-quantile search each)."""
        _, moments = source.moments_of(unit, counter)
        if moments is None:
            return None
        return REPORTS.report(
            moments,
            source.grouping,
            confidence=self.filters.confidence,
            target=target,
            min_n=self.filters.min_n,
            settle=settle,
        )

    def headline_of(
        self,
        source: _Source,
        unit: Unit,
        counter: Counter | None,
        target: float | None,
        settle: tuple[str, ...] = ("index",),
        *,
        with_factors: bool = True,
    ) -> tuple[Figure, dict[str, Figure], int]:
        """(headline, factor figures, respondents) of `unit`'s subtree or one of its counters.
        Without `with_factors` (the previous period: only its headline is shown), no factor
        figures are built."""
        f = self.filters
        if source.grouping is not None:
            respondents, _ = source.moments_of(unit, counter)
            report = self.index_report_of(source, unit, counter, target, settle)
            if report is None:
                return Figure(0), {}, 0
            factors = (
                {key: figure_from_index(fig) for key, fig in report.factors.items()}
                if with_factors
                else {}
            )
            return figure_from_index(report.index), factors, respondents
        question = self.definition.question(self.definition.headline)
        by_cell = source.counts_of(question.key)
        keys = self._keys_under(unit, source) if counter is None else [(unit.id, counter.id)]
        counts = _sum_counts(by_cell[k] for k in keys if k in by_cell).get(question.key, {})
        n = sum(counts.values())
        positive = sum(c for v, c in counts.items() if v in question.positive)
        return (
            share_figure(positive, n, target=target, confidence=f.confidence, min_n=f.min_n),
            {},
            n,
        )

    def _question_figures(
        self, unit_ids: Collection[int], counter_key: int | None, target: float | None
    ) -> dict[str, QuestionFigures]:
        counts = self.source.summed_counts(unit_ids, counter_key)
        result = {}
        for question in self.definition.questions:
            if question.type not in ("scale", "single", "multi"):
                continue
            values = dict(counts.get(question.key, {}))
            figure = None
            if question.positive and question.type != "multi":
                n = sum(values.values())
                positive = sum(c for v, c in values.items() if v in question.positive)
                figure = share_figure(
                    positive,
                    n,
                    target=target,
                    confidence=self.filters.confidence,
                    min_n=self.filters.min_n,
                )
            result[question.key] = QuestionFigures(question.key, values, figure)
        return result

    def for_unit(self, unit: Unit, *, details: bool = False) -> UnitFigures:
        target = self.targets[unit.id]
        settle = ("factor", "index") if details else ("index",)
        headline, factors, respondents = self.headline_of(
            self.source, unit, None, target.threshold, settle
        )
        figures = UnitFigures(unit, None, respondents, headline, target, factors=factors)
        figures.incomplete = self.incomplete_of(unit)
        if self.previous is not None:
            figures.previous, _, _ = self.headline_of(
                self.previous, unit, None, target.threshold, settle=(), with_factors=False
            )
            figures.change = change_between(headline, figures.previous, self.filters.confidence)
        if details:
            figures.questions = self._question_figures(
                self._ids_under(unit), None, target.threshold
            )
        return figures

    def for_units(self) -> list[UnitFigures]:
        return [self.for_unit(unit) for unit in self.units]

    def for_counter(self, unit: Unit, counter: Counter, *, details: bool = True) -> UnitFigures:
        target = self.targets[unit.id]
        settle = ("factor", "index") if details else ("index",)
        headline, factors, respondents = self.headline_of(
            self.source, unit, counter, target.threshold, settle
        )
        figures = UnitFigures(unit, counter, respondents, headline, target, factors=factors)
        figures.incomplete = self.incomplete_of(unit, counter)
        if self.previous is not None:
            figures.previous, _, _ = self.headline_of(
                self.previous, unit, counter, target.threshold, settle=(), with_factors=False
            )
            figures.change = change_between(headline, figures.previous, self.filters.confidence)
        if details:
            figures.questions = self._question_figures([unit.id], counter.id, target.threshold)
        return figures


def change_between(current: Figure, previous: Figure | None, confidence: float) -> Change | None:
    """current − previous. Simple shares: Newcombe's hybrid score interval (statistics.md §3).
    Indices: the two periods are independent samples of respondents, so Var(d) = se1² + se2²
    and the interval is d ± z·sqrt(se1² + se2²)."""
    if previous is None or not current.shown or not previous.shown:
        return None
    if current.positive is not None and previous.positive is not None:
        interval = difference_ci(
            current.positive,
            current.n,
            previous.positive,
            previous.n,
            confidence=confidence,
            method="newcombe",
        )
        return Change(interval.estimate, interval.low, interval.high)
    if current.se is None or previous.se is None:
        return None
    half = z_value(confidence) * (current.se**2 + previous.se**2) ** 0.5
    difference = current.estimate - previous.estimate
    return Change(difference, difference - half, difference + half)


@dataclass(frozen=True)
class TrendPoint:
    label: str
    start: date
    figure: Figure


def monthly_trend(
    unit: Unit, filters: Filters, *, months: int = 12, counter: Counter | None = None
) -> list[TrendPoint]:
    """The headline per month for the `months` months up to the filters' period end, in two or
    three queries: monthly index moments (or daily answer counts) summed per month. Reads what
    is settled: a live page calls it after its FigureBuilder(live=True), which settled."""
    from survey_app.services.periods import _add_months, period_of

    first = _add_months(period_of("month", filters.period.end).start, -(months - 1))
    starts = [_add_months(first, i) for i in range(months)]
    definition, questionnaire_ids = _questionnaire_versions(filters.questionnaire_key)
    grouping = grouping_of(definition)
    target = resolve_targets(
        [unit],
        metric="headline",
        questionnaire_key=filters.questionnaire_key,
        period_kinds=("month", "quarter", "year"),
        year=filters.period.end.year,
        default_threshold=filters.default_target,
    )[unit.id].threshold
    figures: dict[date, Figure] = {}
    if grouping is not None:
        # A unit's trend reads its subtree's sums: a dozen rows per channel, not one per cell.
        model = IndexMoment if counter is not None else SubtreeMoment
        query = select(model.period_start, model.moments).where(
            model.granularity == "month",
            model.period_start.in_(starts),
            model.unit_id == unit.id,
            model.questionnaire_id.in_(questionnaire_ids),
            *filters.conditions_on(model),
        )
        if counter is not None:
            query = query.where(IndexMoment.counter_key == counter.id)
        by_month = analytics.IndexMoments.sum_bytes_by(
            db.session.execute(query.execution_options(**BINARY_RESULTS)),
            grouping.items,
            grouping,
        )
        for start, moments in by_month.items():
            report = REPORTS.report(
                moments, grouping, confidence=filters.confidence, target=target, min_n=filters.min_n
            )
            figures[start] = figure_from_index(report.index)
    else:
        question = definition.question(definition.headline)
        unit_ids = [unit.id] if counter else list_subtree_unit_ids(unit)
        monthly = MonthlyAnswerCount
        query = (
            select(monthly.month, monthly.value, func.sum(monthly.n))
            .where(
                monthly.question_key == question.key,
                monthly.month.in_(starts),
                monthly.unit_id.in_(unit_ids),
                monthly.questionnaire_id.in_(questionnaire_ids),
                *filters.conditions_on(monthly),
            )
            .group_by(monthly.month, monthly.value)
        )
        if counter is not None:
            query = query.where(monthly.counter_key == counter.id)
        totals: dict[date, list[int]] = defaultdict(lambda: [0, 0])
        for month, value, n in db.session.execute(query):
            totals[month][1] += int(n)
            if value in question.positive:
                totals[month][0] += int(n)
        for start, (positive, n) in totals.items():
            figures[start] = share_figure(
                positive, n, target=target, confidence=filters.confidence, min_n=filters.min_n
            )
    return [
        TrendPoint(start.strftime("%m/%Y"), start, figures.get(start, Figure(0)))
        for start in starts
    ]
