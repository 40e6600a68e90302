"""Index moments per unit, counter, day, month and year: added to when responses are settled
(services/rollup.py), rebuilt from the raw answers in bulk, and compared with a recomputation
(see models.IndexMoment)."""

import itertools
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from operator import attrgetter
from typing import Any

import numpy as np
from sqlalchemy import Select, Table, Update, and_, bindparam, delete, select, update

import analytics
from analytics import IndexGrouping
from questionnaires import Definition
from survey_app.extensions import db
from survey_app.models import Answer, IndexMoment, Questionnaire, Response, SubtreeMoment, Unit
from survey_app.services.questionnaires import definition_of, grouping_of
from survey_app.services.sql import BINARY_RESULTS, json_rows, json_rows_parameter
from survey_app.services.units import path_ids

GRANULARITIES = ("day", "month", "year")


def month_of(day: date) -> date:
    return day.replace(day=1)


def periods_of(day: date) -> tuple[tuple[str, date], ...]:
    """The cells a response of `day` adds to: its day, its month and its year (first days)."""
    return (("day", day), ("month", day.replace(day=1)), ("year", date(day.year, 1, 1)))


def answer_matrix(definition: Definition, respondents: Sequence[Mapping[str, int]]) -> np.ndarray:
    """One row per respondent over the index items: 1 positive, 0 valid but not positive, NaN
    not answered."""
    items = grouping_of(definition).items
    positive = [definition.question(key).positive for key in items]
    matrix = np.full((len(respondents), len(items)), np.nan)
    for i, values in enumerate(respondents):
        for j, key in enumerate(items):
            value = values.get(key)
            if value is not None:
                matrix[i, j] = 1.0 if value in positive[j] else 0.0
    return matrix


def add_to_moments(additions: "dict[MomentCell, tuple[int, analytics.IndexMoments]]") -> None:
    """Add respondents to stored cells (cell → (respondents, their moments)), and the same sums
    to every subtree that holds each cell's unit (`subtree_moments`), in the caller's
    transaction. The caller holds the settling lock (services/rollup.py), so nobody else writes
    these rows meanwhile."""
    if not additions:
        return
    _add_rows(_CELLS, additions)
    units = {cell.unit_id for cell in additions}
    paths = dict(db.session.execute(select(Unit.id, Unit.path).where(Unit.id.in_(units))).all())
    _add_rows(_SUBTREES, rolled_up(additions, paths))


def _add_rows(store: "_MomentStore", additions: dict) -> None:
    """One read of exactly the cells' rows, then one UPDATE per existing cell and one INSERT per
    new one, each sent as a single executemany."""
    cells = list(additions)
    stored = _stored_rows(store, cells)
    updates, inserts = [], []
    by_questionnaire = defaultdict(list)  # blobs of one questionnaire decode together
    for cell in sorted((cell for cell in cells if cell in stored), key=store.key_of):
        by_questionnaire[cell.questionnaire_id].append(cell)
    for existing in by_questionnaire.values():
        _, sample = additions[existing[0]]
        kept = analytics.IndexMoments.each_from_bytes(
            (stored[cell][1] for cell in existing), sample.item_keys, sample.grouping
        )
        for cell, kept_moments in zip(existing, kept, strict=True):
            respondents, addition = additions[cell]
            updates.append(
                {
                    **{f"key_{name}": value for name, value in cell.__dict__.items()},
                    "new_respondents": stored[cell][0] + respondents,
                    "new_moments": (kept_moments + addition).to_bytes(),
                }
            )
    for cell in sorted((cell for cell in cells if cell not in stored), key=store.key_of):
        respondents, addition = additions[cell]
        inserts.append(
            {**cell.__dict__, "respondents": respondents, "moments": addition.to_bytes()}
        )
    if updates:
        db.session.execute(store.update, updates)
    if inserts:
        db.session.execute(store.table.insert(), inserts)


def _stored_rows(store: "_MomentStore", cells: Sequence) -> dict:
    """cell → (respondents, moments blob) of those `cells` that are stored, in one statement."""
    rows = db.session.execute(
        _stored_rows_query(store),
        {"keys": json_rows_parameter(map(store.key_of, cells))},
        execution_options=BINARY_RESULTS,
    )
    width = len(store.columns)
    return {store.cell(*row[:width]): (row.respondents, row.moments) for row in rows}


def _stored_rows_query(store: "_MomentStore") -> Select:
    """The rows of the keys sent as one JSON parameter `keys`, each looked up in the primary key
    (services/sql.json_rows). Before, a multi-column IN list: SQLite scanned the whole table for
    it in every settling batch (27 ms for index_moments at 1,000,000 responses, against 3 ms to
    look up 300 keys), and SQLAlchemy compiled it anew for every number of keys."""
    table = store.table
    key_columns = [table.c[name] for name in store.columns]
    wanted, keys = json_rows("keys", key_columns)
    return select(*key_columns, table.c.respondents, table.c.moments).join_from(
        wanted, table, and_(*(column == key for column, key in zip(key_columns, keys, strict=True)))
    )


@dataclass(frozen=True)
class MomentCell:
    """The key of one `index_moments` row."""

    unit_id: int
    granularity: str
    period_start: date
    questionnaire_id: int
    counter_key: int
    channel: str
    entered_by: str


@dataclass(frozen=True)
class SubtreeCell:
    """The key of one `subtree_moments` row: a unit's subtree, all counters."""

    unit_id: int
    granularity: str
    period_start: date
    questionnaire_id: int
    channel: str
    entered_by: str


@dataclass(frozen=True)
class _MomentStore:
    """A moments table, the dataclass of its key, and its executemany UPDATE. `key_of(cell)`:
    the key as a tuple, in column order (dataclasses.astuple copies recursively: 8 µs a cell
    against 0.15, and a settling batch of 50 sorts and sends ~370 cells)."""

    table: Table
    cell: type
    columns: tuple[str, ...]
    update: Update
    key_of: Callable[[Any], tuple]

    @classmethod
    def of(cls, table: Table, cell: type) -> "_MomentStore":
        columns = tuple(field.name for field in fields(cell))
        statement = (
            update(table)
            .where(*(table.c[name] == bindparam(f"key_{name}") for name in columns))
            .values(respondents=bindparam("new_respondents"), moments=bindparam("new_moments"))
        )
        return cls(table, cell, columns, statement, attrgetter(*columns))


_CELLS = _MomentStore.of(IndexMoment.__table__, MomentCell)
_SUBTREES = _MomentStore.of(SubtreeMoment.__table__, SubtreeCell)


def rolled_up(
    additions: "Mapping[MomentCell, tuple[int, analytics.IndexMoments]]", paths: Mapping[int, str]
) -> "dict[SubtreeCell, tuple[int, analytics.IndexMoments]]":
    """Cells summed into the subtree of every unit on their unit's path (`paths`: unit id →
    path), over counters."""
    result: dict[SubtreeCell, tuple[int, analytics.IndexMoments]] = {}
    for cell, (respondents, moments) in additions.items():
        for unit_id in path_ids(paths[cell.unit_id]):
            key = _subtree_of(cell, unit_id)
            if key in result:
                kept_respondents, kept = result[key]
                result[key] = (kept_respondents + respondents, kept + moments)
            else:
                result[key] = (respondents, moments)
    return result


def _subtree_of(cell: MomentCell, unit_id: int) -> SubtreeCell:
    return SubtreeCell(
        unit_id,
        cell.granularity,
        cell.period_start,
        cell.questionnaire_id,
        cell.channel,
        cell.entered_by,
    )


def compute_moments(
    questionnaire_ids: Iterable[int] | None = None,
) -> dict[MomentCell, tuple[int, bytes]]:
    """Moments recomputed from the raw answers (bulk; for rebuilds and checks, not requests)."""
    result: dict[MomentCell, tuple[int, bytes]] = {}
    query = select(Questionnaire)
    if questionnaire_ids is not None:
        query = query.where(Questionnaire.id.in_(list(questionnaire_ids)))
    for questionnaire in db.session.scalars(query):
        definition = definition_of(questionnaire)
        grouping = grouping_of(definition)
        if grouping is None:
            continue
        items = {key: i for i, key in enumerate(grouping.items)}
        positive = {key: definition.question(key).positive for key in grouping.items}
        responses = db.session.execute(
            select(
                Response.id,
                Response.unit_id,
                Response.counter_id,
                Response.local_day,
                Response.channel,
                Response.entered_by,
            ).where(Response.questionnaire_id == questionnaire.id)
        ).all()
        if not responses:
            continue
        index_of = {row.id: i for i, row in enumerate(responses)}
        matrix = np.full((len(responses), len(items)), np.nan)
        answers = db.session.execute(
            select(Answer.response_id, Answer.question_key, Answer.value)
            .join(Response, Response.id == Answer.response_id)
            .where(
                Response.questionnaire_id == questionnaire.id, Answer.question_key.in_(list(items))
            )
        )
        for response_id, question_key, value in answers:
            matrix[index_of[response_id], items[question_key]] = (
                1.0 if value in positive[question_key] else 0.0
            )
        for cell, (n, moments) in moments_by_cell(
            questionnaire.id, grouping, responses, matrix
        ).items():
            result[cell] = (n, moments.to_bytes())
    return result


def moments_by_cell(
    questionnaire_id: int, grouping, respondents: Sequence, matrix: np.ndarray
) -> "dict[MomentCell, tuple[int, analytics.IndexMoments]]":
    """Each respondent's row of `matrix` (answer_matrix) added up per day, month and year cell.
    `respondents` are rows with unit_id, counter_id, channel, entered_by and local_day."""
    result: dict[MomentCell, tuple[int, analytics.IndexMoments]] = {}
    for level in range(len(GRANULARITIES)):  # one pass per level: no copy of the matrix
        cells = []
        for row in respondents:
            granularity, start = periods_of(row.local_day)[level]
            cells.append(
                MomentCell(
                    row.unit_id,
                    granularity,
                    start,
                    questionnaire_id,
                    row.counter_id or 0,
                    row.channel,
                    row.entered_by,
                )
            )
        per_cell = analytics.IndexMoments.from_groups(matrix, cells, grouping.items, grouping)
        result.update((cell, (m.respondents, m)) for cell, m in per_cell.items())
    return result


def rebuild_index_moments() -> int:
    """Replace every stored moment with a recomputation from the answers, and the subtree sums
    with their roll-up; returns the cell count."""
    db.session.execute(delete(IndexMoment))
    cells = compute_moments()
    rows = [
        {**cell.__dict__, "respondents": n, "moments": blob} for cell, (n, blob) in cells.items()
    ]
    if rows:
        db.session.execute(IndexMoment.__table__.insert(), rows)
    rebuild_subtree_moments()
    return len(rows)


def rebuild_subtree_moments(unit_ids: Collection[int] | None = None) -> int:
    """Replace subtree sums with the roll-up of `index_moments` over the current tree (the tree
    changed, or the moments were rebuilt); returns the row count written. `unit_ids`: only the
    sums of these units (those whose subtree changed: units.units_whose_subtree_changed), from
    the cells below them; None: every unit's. Takes the settling lock, so no settler adds to the
    old sums meanwhile; reads one questionnaire's day, month or year at a time, so memory follows
    the cells of one period, not the table."""
    from survey_app.services.rollup import take_settling_lock  # rollup builds on this module

    take_settling_lock()
    paths = _unit_paths()
    table = IndexMoment.__table__
    cells_below = select(
        *(table.c[name] for name in _CELLS.columns), table.c.respondents, table.c.moments
    )
    if unit_ids is None:
        db.session.execute(delete(SubtreeMoment))
    else:
        unit_ids = set(unit_ids)
        if not unit_ids:
            return 0
        db.session.execute(delete(SubtreeMoment).where(SubtreeMoment.unit_id.in_(unit_ids)))
        below = [unit for unit, path in paths.items() if unit_ids.intersection(path_ids(path))]
        cells_below = cells_below.where(table.c.unit_id.in_(below))
    written = 0
    for questionnaire_id, grouping in _groupings().items():
        rows = db.session.execute(
            cells_below.where(table.c.questionnaire_id == questionnaire_id).order_by(
                table.c.granularity, table.c.period_start
            ),
            execution_options={"yield_per": 5000},
        )
        for _, period in itertools.groupby(rows, key=lambda row: (row[1], row[2])):
            cells = ((MomentCell(*row[:7]), row.respondents, row.moments) for row in period)
            summed = _subtree_sums(cells, paths, grouping, only=unit_ids)
            inserts = [
                {**cell.__dict__, "respondents": n, "moments": blob}
                for cell, (n, blob) in summed.items()
            ]
            if inserts:
                db.session.execute(SubtreeMoment.__table__.insert(), inserts)
            written += len(inserts)
    return written


def _unit_paths() -> dict[int, str]:
    return dict(db.session.execute(select(Unit.id, Unit.path)).all())


def _groupings() -> dict[int, IndexGrouping]:
    """questionnaire id → its index grouping, for the versions that have an index."""
    groupings = {
        questionnaire.id: grouping_of(definition_of(questionnaire))
        for questionnaire in db.session.scalars(select(Questionnaire))
    }
    return {key: grouping for key, grouping in groupings.items() if grouping is not None}


def _subtree_sums(
    cells: Iterable[tuple[MomentCell, int, bytes]],
    paths: Mapping[int, str],
    grouping,
    only: Collection[int] | None = None,
) -> dict[SubtreeCell, tuple[int, bytes]]:
    """Stored cells of one questionnaire (cell, respondents, blob) summed into the subtree of
    every unit on their unit's path (`only`: of those units among them)."""
    keyed: list[tuple[SubtreeCell, bytes]] = []
    respondents: dict[SubtreeCell, int] = defaultdict(int)
    for cell, n, blob in cells:
        for unit_id in path_ids(paths[cell.unit_id]):
            if only is not None and unit_id not in only:
                continue
            key = _subtree_of(cell, unit_id)
            keyed.append((key, blob))
            respondents[key] += n
    summed = analytics.IndexMoments.sum_bytes_by(keyed, grouping.items, grouping)
    return {key: (respondents[key], moments.to_bytes()) for key, moments in summed.items()}


def compare_index_moments() -> tuple[int, list[str]]:
    """(cells compared, descriptions of the cells that differ): `index_moments` against a
    recomputation from the answers, and `subtree_moments` against that recomputation rolled up
    the current tree."""
    kept = {
        MomentCell(*(getattr(r, name) for name in _CELLS.columns)): (r.respondents, r.moments)
        for r in db.session.scalars(select(IndexMoment))
    }
    recomputed = compute_moments()
    differences = _differences(kept, recomputed)
    kept_subtrees = {
        SubtreeCell(*(getattr(r, name) for name in _SUBTREES.columns)): (r.respondents, r.moments)
        for r in db.session.scalars(select(SubtreeMoment))
    }
    paths, groupings = _unit_paths(), _groupings()
    by_questionnaire = defaultdict(list)
    for cell, (n, blob) in recomputed.items():
        by_questionnaire[cell.questionnaire_id].append((cell, n, blob))
    recomputed_subtrees = {}
    for questionnaire_id, cells in by_questionnaire.items():
        recomputed_subtrees.update(_subtree_sums(cells, paths, groupings[questionnaire_id]))
    differences += _differences(kept_subtrees, recomputed_subtrees)
    compared = len(kept.keys() | recomputed.keys()) + len(
        kept_subtrees.keys() | recomputed_subtrees.keys()
    )
    return compared, differences


def _differences(kept: Mapping, recomputed: Mapping) -> list[str]:
    return [
        f"{cell}: kept {kept.get(cell, (0, b''))[0]} respondents, "
        f"recomputed {recomputed.get(cell, (0, b''))[0]}"
        for cell in kept.keys() | recomputed.keys()
        if kept.get(cell) != recomputed.get(cell)
    ]
