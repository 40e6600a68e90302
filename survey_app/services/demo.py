"""A realistic demo province: units, counters and a year of responses (bulk-inserted).

Satisfaction is drawn around 85–93 % and varies by unit and factor, so that figures, intervals and
verdicts look like the real thing: some units clearly meet 90 %, some clearly do not, some can't
be told yet.
"""

import contextlib
import logging
import time as time_module
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import ForeignKeyConstraint, Table, UniqueConstraint, literal, select, text
from sqlalchemy.schema import AddConstraint, CreateIndex, DropConstraint, DropIndex

from survey_app.extensions import db
from survey_app.models import (
    Answer,
    AnswerCount,
    ApiKey,
    Counter,
    MonthlyAnswerCount,
    Response,
    Unit,
    YearlyAnswerCount,
)
from survey_app.services.counts import rebuild_answer_counts
from survey_app.services.moments import add_to_moments, moments_by_cell
from survey_app.services.questionnaires import get_current_questionnaire, grouping_of
from survey_app.services.sql import bulk_insert
from survey_app.services.units import create_counter, create_unit

log = logging.getLogger(__name__)

DEMO_ROOT_CODE = "DEMO"

# (code, kind, name_vi, name_en, place_name_vi) — below the province.
DEMO_UNITS = [
    (
        "DEMO-TTPVHCC",
        "centre",
        "Trung tâm Phục vụ hành chính công tỉnh",
        "Provincial Public Administration Service Centre",
        "Trung tâm Phục vụ hành chính công tỉnh Sơn Thủy",
    ),
    ("DEMO-STP", "department", "Sở Tư pháp", "Department of Justice", None),
    ("DEMO-STC", "department", "Sở Tài chính", "Department of Finance", None),
    ("DEMO-SXD", "department", "Sở Xây dựng", "Department of Construction", None),
    (
        "DEMO-SNNMT",
        "department",
        "Sở Nông nghiệp và Môi trường",
        "Department of Agriculture and Environment",
        None,
    ),
    ("DEMO-SYT", "department", "Sở Y tế", "Department of Health", None),
    (
        "DEMO-SGDDT",
        "department",
        "Sở Giáo dục và Đào tạo",
        "Department of Education and Training",
        None,
    ),
    ("DEMO-SNV", "department", "Sở Nội vụ", "Department of Home Affairs", None),
    ("DEMO-SCT", "department", "Sở Công Thương", "Department of Industry and Trade", None),
    (
        "DEMO-SVHTTDL",
        "department",
        "Sở Văn hóa, Thể thao và Du lịch",
        "Department of Culture, Sports and Tourism",
        None,
    ),
]
DEMO_COMMUNES = [
    ("ward", "Phường An Lạc"),
    ("ward", "Phường Bình Minh"),
    ("ward", "Phường Hòa Thuận"),
    ("ward", "Phường Phú Cường"),
    ("ward", "Phường Tân Định"),
    ("ward", "Phường Thắng Lợi"),
    ("commune", "Xã Tân Phú"),
    ("commune", "Xã Long Hưng"),
    ("commune", "Xã Mỹ An"),
    ("commune", "Xã Phước Lộc"),
    ("commune", "Xã Thạnh Mỹ"),
    ("commune", "Xã Vĩnh Thạnh"),
    ("commune", "Xã Hòa Bình"),
    ("commune", "Xã Đông Sơn"),
    ("commune", "Xã Bình Phước"),
    ("commune", "Xã Tân Hiệp"),
    ("commune", "Xã Quảng Lợi"),
    ("commune", "Xã Hưng Đạo"),
    ("commune", "Xã Nghĩa Hưng"),
    ("commune", "Xã Kim Sơn"),
]
COUNTER_AREAS = [
    ("Tư pháp – Hộ tịch", "Justice and civil status"),
    ("Đất đai", "Land"),
    ("Đăng ký kinh doanh", "Business registration"),
    ("Lao động – Thương binh và Xã hội", "Labour and social affairs"),
    ("Xây dựng", "Construction"),
    ("Tổng hợp", "General"),
]
COMMENTS = [
    "Cán bộ hướng dẫn nhiệt tình, chu đáo.",
    "Thời gian chờ hơi lâu vào buổi sáng.",
    "Cần thêm ghế ngồi chờ.",
    "Phòng chờ nóng, nên sửa máy lạnh.",
    "Thủ tục nhanh gọn, cảm ơn.",
    "Nên có thêm hướng dẫn nộp hồ sơ trực tuyến.",
    "Nhân viên lịch sự.",
    "Bãi giữ xe chật.",
]
CHANNEL_SHARES = {"kiosk": 0.6, "qr_counter": 0.25, "qr_dossier": 0.1, "web": 0.05}


@dataclass(frozen=True)
class DemoSummary:
    units: int
    counters: int
    responses: int
    answers: int
    # Seconds spent per phase (generate, insert, counts, moments, statistics): where time goes.
    phases: dict[str, float] = field(default_factory=dict)


def ensure_demo_units() -> tuple[Unit, list[Counter]]:
    """Create the demo province (idempotent): a province, 10 provincial bodies, 20 communes."""
    root = db.session.scalar(select(Unit).where(Unit.code == DEMO_ROOT_CODE))
    if root is None:
        root = create_unit(
            DEMO_ROOT_CODE,
            "Tỉnh Sơn Thủy (dữ liệu mẫu)",
            name_en="Sơn Thủy Province (demo data)",
            kind="province",
            place_name_vi="Trung tâm Phục vụ hành chính công tỉnh Sơn Thủy",
        )
        rng = np.random.default_rng(7)
        for code, kind, name_vi, name_en, place in DEMO_UNITS:
            unit = create_unit(
                code, name_vi, name_en=name_en, kind=kind, parent=root, place_name_vi=place
            )
            _add_counters(unit, rng.integers(1, 4))
        for i, (kind, name_vi) in enumerate(DEMO_COMMUNES, 1):
            unit = create_unit(
                f"DEMO-X{i:02d}",
                name_vi,
                kind=kind,
                parent=root,
                place_name_vi=f"Bộ phận Một cửa UBND {name_vi[0].lower()}{name_vi[1:]}",
            )
            _add_counters(unit, rng.integers(2, 5))
    counters = list(
        db.session.scalars(
            select(Counter).join(Unit).where(Unit.path.startswith(root.path)).order_by(Counter.id)
        )
    )
    return root, counters


DEMO_PORTAL_KEY = "Cổng dịch vụ công tỉnh (dữ liệu mẫu)"


def _demo_portal_key(root: Unit) -> int:
    """The id of the demo's API key for submit_responses (the portal that sends `web` ratings),
    made once; its secret is never shown (an administrator makes a real one)."""
    from survey_app.services.api_keys import create_api_key

    key_id = db.session.scalar(
        select(ApiKey.id).where(ApiKey.name == DEMO_PORTAL_KEY, ApiKey.unit_id == root.id)
    )
    if key_id is None:
        key, _secret = create_api_key(DEMO_PORTAL_KEY, "submit_responses", root, created_by=None)
        key_id = key.id
    return key_id


def _add_counters(unit: Unit, how_many: int) -> None:
    for i, (vi, en) in enumerate(COUNTER_AREAS[:how_many], 1):
        create_counter(unit, f"Q{i}", f"Quầy {i} – {vi}", f"Counter {i} – {en}")


def seed_demo(
    responses: int,
    *,
    timezone: str = "Asia/Ho_Chi_Minh",
    seed: int = 2025,
    now: datetime | None = None,
    chunk_size: int = 20_000,
) -> DemoSummary:
    """Create the demo province and `responses` responses spread over the past year. The `web`
    ones are attributed to the demo portal's API key, as that channel's responses are."""
    root, counters = ensure_demo_units()
    portal = _demo_portal_key(root)
    rng = np.random.default_rng(seed)
    now = now or datetime.now(UTC)
    zone = ZoneInfo(timezone)
    counter_units = np.array([c.unit_id for c in counters])
    counter_ids = np.array([c.id for c in counters])
    unit_ids = sorted(set(counter_units.tolist()))
    # Each unit has its own level (0.85–0.93 positive) and each factor its own tilt.
    unit_level = dict(zip(unit_ids, rng.uniform(0.85, 0.935, len(unit_ids)), strict=True))
    counter_rating = get_current_questionnaire("sipas-counter")
    quick_rating = get_current_questionnaire("quick-rating")
    total_answers = 0
    respondents: list[_Respondent] = []  # sipas-counter responses, in the order of `scored`
    scored: list[np.ndarray] = []  # their answer_matrix rows, chunk by chunk
    phases = dict.fromkeys(
        ("generate", "insert", "indexes", "counts", "moments", "statistics"), 0.0
    )
    clock = time_module.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now_ = time_module.perf_counter()
        phases[phase] += now_ - clock
        clock = now_

    # Into empty tables, indexes and constraints are built once after the load (PostgreSQL).
    with indexes_built_after_the_load(Response.__table__, Answer.__table__):
        for start in range(0, responses, chunk_size):
            size = min(chunk_size, responses - start)
            which = rng.integers(0, len(counters), size)
            levels = np.array([unit_level[u] for u in counter_units[which]])
            moments = _working_hour_moments(rng, size, now, zone)
            channels = rng.choice(list(CHANNEL_SHARES), size, p=list(CHANNEL_SHARES.values()))
            uses_counter_form = rng.random(size) < 0.55
            response_rows, answer_rows = [], []
            chunk_ids = _ascending_ids(rng, start // chunk_size, size)
            for form, definition_pair in ((True, counter_rating), (False, quick_rating)):
                idx = np.flatnonzero(uses_counter_form == form)
                questionnaire, definition = definition_pair
                # The counter form's ids first, then the quick rating's: rows go in ascending.
                ids, chunk_ids = chunk_ids[: len(idx)], chunk_ids[len(idx) :]
                for response_id, i in zip(ids, idx, strict=True):
                    moment = moments[i]
                    response_rows.append(
                        {
                            "id": response_id,
                            "questionnaire_id": questionnaire.id,
                            "unit_id": int(counter_units[which[i]]),
                            "counter_id": int(counter_ids[which[i]]),
                            "channel": str(channels[i]),
                            "entered_by": "citizen",
                            "locale": "vi",
                            "submitted_at": moment,
                            "received_at": moment,
                            "local_day": moment.astimezone(zone).date(),
                            "weight": 1.0,
                            "content_hash": "demo",
                            "api_key_id": portal if channels[i] == "web" else None,
                        }
                    )
                if form:
                    rows, positive = _counter_answers(rng, definition, ids, levels[idx])
                    answer_rows += rows
                    scored.append(positive)
                    added = response_rows[len(response_rows) - len(ids) :]  # this form's rows
                    respondents += [_Respondent.of(row) for row in added]
                else:
                    answer_rows += _quick_answers(rng, ids, levels[idx])
            lap("generate")
            bulk_insert(Response.__table__, response_rows)
            bulk_insert(Answer.__table__, answer_rows)
            lap("insert")
            total_answers += len(answer_rows)
            log.info("demo responses inserted %s/%s", start + size, responses)
    lap("indexes")
    # Counted in SQL into empty count tables (a first seed), their keys and foreign keys built
    # after: checked row by row they took two thirds of the counting (benchmarks/README.md).
    count_tables = (AnswerCount, MonthlyAnswerCount, YearlyAnswerCount)
    with indexes_built_after_the_load(*(m.__table__ for m in count_tables), primary_keys=True):
        rebuild_answer_counts()
    lap("counts")
    # The moments of what was just generated, from memory (not read back from the database),
    # added to whatever the database held before.
    questionnaire, definition = counter_rating
    if respondents:
        add_to_moments(
            moments_by_cell(
                questionnaire.id, grouping_of(definition), respondents, np.vstack(scored)
            )
        )
    lap("moments")
    refresh_planner_statistics()
    lap("statistics")
    unit_count = len(unit_ids) + 1
    return DemoSummary(unit_count, len(counters), responses, total_answers, phases)


def _ascending_ids(rng: np.random.Generator, chunk: int, size: int) -> list[uuid.UUID]:
    """`size` random version-4 ids in ascending order, above every id of earlier chunks (the
    chunk's number leads them). Response and answer rows then go to the end of their indexes,
    not to random places: SQLite keeps those indexes during the load, and random order made
    inserting its slowest phase."""
    raw = np.frombuffer(rng.bytes(16 * size), np.uint8).reshape(size, 16).copy()
    raw[:, :4] = np.frombuffer(chunk.to_bytes(4, "big"), np.uint8)
    return sorted(uuid.UUID(bytes=row.tobytes(), version=4) for row in raw)


@contextlib.contextmanager
def indexes_built_after_the_load(*tables: Table, primary_keys: bool = False) -> Iterator[None]:
    """Bulk-load into `tables` without maintaining their secondary indexes, foreign keys and
    unique constraints row by row, when every one of them is empty: they are dropped first and
    built once at the end, a sorted build instead of millions of random B-tree inserts (and a
    foreign-key lookup per answer). Same transaction: an error rolls the drops back too, and the
    tables stay locked until the commit (a seed is a setup step). Only on PostgreSQL, whose DDL is
    transactional and can add constraints to a filled table; elsewhere, and into tables that hold
    rows, a plain load. `primary_keys`: their primary keys too (only for tables that no foreign
    key refers to, such as the answer counts)."""
    connection = db.session.connection()
    empty = all(
        db.session.execute(select(literal(1)).select_from(table).limit(1)).first() is None
        for table in tables
    )
    if connection.dialect.name != "postgresql" or not empty:
        yield
        return
    indexes = [index for table in tables for index in table.indexes]
    constraints = [
        constraint
        for table in tables
        for constraint in table.constraints
        if isinstance(constraint, ForeignKeyConstraint | UniqueConstraint)
    ]
    keys = [table.primary_key for table in tables] if primary_keys else []
    for constraint in [*constraints, *keys]:
        connection.execute(DropConstraint(constraint))
    for index in indexes:
        connection.execute(DropIndex(index))
    yield
    for key in keys:
        connection.execute(AddConstraint(key))
    for index in indexes:
        connection.execute(CreateIndex(index))
    for constraint in constraints:
        connection.execute(AddConstraint(constraint))


def refresh_planner_statistics() -> None:
    """ANALYZE after a bulk load, so that the query planner knows the tables' new sizes (until
    autovacuum gets to it, PostgreSQL would guess, and may scan a million rows for one)."""
    db.session.execute(text("ANALYZE"))


def _working_hour_moments(rng, size: int, now: datetime, zone: ZoneInfo) -> list[datetime]:
    """Moments on working days of the past year, 7:30–17:00 local time."""
    today = now.astimezone(zone).date()
    days = [today - timedelta(days=d) for d in range(365)]
    days = [d for d in days if d.weekday() < 6]
    day_index = rng.integers(0, len(days), size)
    seconds = rng.integers(int(7.5 * 3600), 17 * 3600, size)
    moments = []
    for d, s in zip(day_index, seconds, strict=True):
        local = datetime.combine(days[d], time(0), tzinfo=zone) + timedelta(seconds=int(s))
        moments.append(min(local, now).astimezone(UTC))
    return moments


def _levels_to_values(rng, positive: np.ndarray) -> np.ndarray:
    """SAT5 values: positive → 4 or 5; otherwise mostly 3, sometimes 2 or 1."""
    high = np.where(rng.random(positive.shape) < 0.45, 5, 4)
    low = rng.choice([3, 2, 1], positive.shape, p=[0.6, 0.3, 0.1])
    return np.where(positive, high, low)


class _Respondent(NamedTuple):
    """What moments_by_cell needs of a generated response."""

    unit_id: int
    counter_id: int
    channel: str
    entered_by: str
    local_day: date

    @classmethod
    def of(cls, row: dict) -> "_Respondent":
        return cls(
            row["unit_id"], row["counter_id"], row["channel"], row["entered_by"], row["local_day"]
        )


def _counter_answers(rng, definition, ids, levels) -> tuple[list[dict], np.ndarray]:
    """The answer rows of sipas-counter responses `ids`, and their answer_matrix (the index
    items in the grouping's order: 1 positive, 0 not, NaN unanswered) for the moments."""
    grouping = grouping_of(definition)
    rows: list[dict] = []
    if not ids:
        return rows, np.empty((0, len(grouping.items)))
    factor_tilt = {
        f.key: t
        for f, t in zip(
            definition.factors, rng.normal(0, 0.02, len(definition.factors)), strict=True
        )
    }
    items = [(item, factor_tilt[f.key]) for f in definition.factors for item in f.items]
    # A respondent's mood moves all their answers together (as in real surveys, where it makes
    # the index's design effect exceed 1); factors tilt around the unit's level.
    mood = rng.normal(0, 0.12, len(ids))
    p = np.clip(
        levels[:, None] + mood[:, None] + np.array([t for _, t in items])[None, :], 0.3, 0.995
    )
    answered = rng.random(p.shape) < 0.94
    values = _levels_to_values(rng, rng.random(p.shape) < p)
    overall = _levels_to_values(rng, rng.random(len(ids)) < levels)
    comment = rng.random(len(ids)) < 0.03
    column = {item: j for j, (item, _) in enumerate(items)}
    scored = np.full((len(ids), len(grouping.items)), np.nan)
    for g, key in enumerate(grouping.items):
        j = column[key]
        positive = np.isin(values[:, j], list(definition.question(key).positive))
        scored[:, g] = np.where(answered[:, j], positive.astype(float), np.nan)
    for r, response_id in enumerate(ids):
        for j, (item, _) in enumerate(items):
            if answered[r, j]:
                rows.append(
                    {
                        "response_id": response_id,
                        "question_key": item,
                        "value": int(values[r, j]),
                        "text": None,
                    }
                )
        rows.append(
            {
                "response_id": response_id,
                "question_key": "overall",
                "value": int(overall[r]),
                "text": None,
            }
        )
        if comment[r]:
            rows.append(
                {
                    "response_id": response_id,
                    "question_key": "comment",
                    "value": None,
                    "text": COMMENTS[int(rng.integers(len(COMMENTS)))],
                }
            )
    return rows, scored


def _quick_answers(rng, ids, levels) -> list[dict]:
    rows: list[dict] = []
    positive = rng.random(len(ids)) < levels
    very = rng.random(len(ids)) < 0.5
    for r, response_id in enumerate(ids):
        rating = (3 if very[r] else 2) if positive[r] else 1
        rows.append(
            {"response_id": response_id, "question_key": "rating", "value": rating, "text": None}
        )
        if rating == 1 and rng.random() < 0.7:
            for reason in sorted(rng.choice(6, size=int(rng.integers(1, 3)), replace=False) + 1):
                rows.append(
                    {
                        "response_id": response_id,
                        "question_key": "reasons",
                        "value": int(reason),
                        "text": None,
                    }
                )
    return rows


# (username, display name, title, administrator?, [(unit code, role)])
DEMO_ACCOUNTS = [
    ("admin", "Quản trị hệ thống", "Quản trị viên", True, []),
    ("quanly.tinh", "Nguyễn Văn An", "Chuyên viên Sở Nội vụ", False, [(DEMO_ROOT_CODE, "manager")]),
    (
        "quanly.anlac",
        "Trần Thị Bình",
        "Công chức Văn phòng – Thống kê",
        False,
        [("DEMO-X01", "manager")],
    ),
    (
        "canbo.anlac",
        "Phạm Văn Dũng",
        "Công chức Tư pháp – Hộ tịch",
        False,
        [("DEMO-X01", "officer")],
    ),
    ("xem.tuphap", "Lê Văn Cường", "Chuyên viên Sở Tư pháp", False, [("DEMO-STP", "viewer")]),
]


def ensure_demo_accounts() -> list[tuple[str, str, str]]:
    """Create the demo accounts, or give them new passwords. Returns (username, password, what
    they can see); the passwords are random and shown once, by `make run`."""
    import secrets

    from survey_app.services.accounts import add_scope, create_account, find_account, set_password

    shown = []
    for username, name, title, is_admin, scopes in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(9)
        account = find_account(username)
        if account is None:
            account = create_account(
                username, password, display_name=name, title=title, is_administrator=is_admin
            )
        else:
            set_password(account, password)
        for code, role in scopes:
            add_scope(account, db.session.scalar(select(Unit).where(Unit.code == code)), role)
        what = (
            "administrator" if is_admin else ", ".join(f"{role} of {code}" for code, role in scopes)
        )
        shown.append((username, password, what))
    return shown
