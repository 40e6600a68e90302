"""Index moments per unit, counter, day, month and year: added to when responses are settled
(services/rollup.py), rebuilt from the raw answers in bulk, and compared with a recomputation
(see models.IndexMoment)."""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import astuple, dataclass, fields
from datetime import date

import numpy as np
from sqlalchemy import bindparam, delete, select, tuple_, update

import analytics
from questionnaires import Definition
from survey_app.extensions import db
from survey_app.models import Answer, IndexMoment, Questionnaire, Response
from survey_app.services.questionnaires import definition_of, grouping_of

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


# Cells per primary-key lookup: 7 key columns each, well below SQLite's 32,766 parameters.
_CELLS_PER_READ = 1000


def add_to_moments(additions: "dict[MomentCell, tuple[int, analytics.IndexMoments]]") -> None:
    """Add respondents to stored cells (cell → (respondents, their moments)), in the caller's
    transaction: one read of exactly the cells' rows (by primary key, in chunks), then one UPDATE
    per existing cell and one INSERT per new one, each sent as a single executemany. The caller
    holds the settling lock (services/rollup.py), so nobody else writes these rows meanwhile."""
    if not additions:
        return
    table = IndexMoment.__table__
    cells = list(additions)
    key = tuple_(*(table.c[name] for name in MomentCell.COLUMNS))
    stored = {}
    for start in range(0, len(cells), _CELLS_PER_READ):
        chunk = cells[start : start + _CELLS_PER_READ]
        rows = db.session.execute(
            select(
                *(table.c[name] for name in MomentCell.COLUMNS),
                table.c.respondents,
                table.c.moments,
            ).where(key.in_([astuple(cell) for cell in chunk]))
        )
        stored.update((MomentCell(*row[:7]), (row.respondents, row.moments)) for row in rows)
    updates, inserts = [], []
    by_questionnaire = defaultdict(list)  # blobs of one questionnaire decode together
    for cell in sorted((cell for cell in cells if cell in stored), key=MomentCell.sort_key):
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
    for cell in sorted((cell for cell in cells if cell not in stored), key=MomentCell.sort_key):
        respondents, addition = additions[cell]
        inserts.append(
            {**cell.__dict__, "respondents": respondents, "moments": addition.to_bytes()}
        )
    if updates:
        db.session.execute(_MOMENT_UPDATE, updates)
    if inserts:
        db.session.execute(table.insert(), inserts)


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

    def sort_key(self) -> tuple:
        return tuple(self.__dict__.values())


# The key columns, in MomentCell's (and the table's primary key's) order.
MomentCell.COLUMNS = tuple(field.name for field in fields(MomentCell))

# One UPDATE of a cell's respondents and moments, sent with many parameter sets (executemany).
_MOMENT_UPDATE = (
    update(IndexMoment.__table__)
    .where(
        *(IndexMoment.__table__.c[name] == bindparam(f"key_{name}") for name in MomentCell.COLUMNS)
    )
    .values(respondents=bindparam("new_respondents"), moments=bindparam("new_moments"))
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
    """Replace every stored moment with a recomputation from the answers; returns the cell count."""
    db.session.execute(delete(IndexMoment))
    cells = compute_moments()
    rows = [
        {**cell.__dict__, "respondents": n, "moments": blob} for cell, (n, blob) in cells.items()
    ]
    if rows:
        db.session.execute(IndexMoment.__table__.insert(), rows)
    return len(rows)


def compare_index_moments() -> tuple[int, list[str]]:
    """(cells compared, descriptions of the cells that differ)."""
    kept = {
        MomentCell(
            r.unit_id,
            r.granularity,
            r.period_start,
            r.questionnaire_id,
            r.counter_key,
            r.channel,
            r.entered_by,
        ): (r.respondents, r.moments)
        for r in db.session.scalars(select(IndexMoment))
    }
    recomputed = compute_moments()
    differences = [
        f"{cell}: kept {kept.get(cell, (0, b''))[0]} respondents, recomputed {recomputed.get(cell, (0, b''))[0]}"
        for cell in kept.keys() | recomputed.keys()
        if kept.get(cell) != recomputed.get(cell)
    ]
    return len(kept.keys() | recomputed.keys()), differences
