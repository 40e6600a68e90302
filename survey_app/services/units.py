"""The unit tree and counters: finding, creating, importing from CSV, selecting subtrees.

Names and place names are typed by staff, who can retype them: one holding a character no text
may hold (a control, a bidi override: questionnaires/text.py) is refused with a message saying
where it is, never stored, since a unit's name is printed on posters, in reports and exports.
"""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select

from questionnaires.text import add_unsafe_text_problems
from survey_app.errors import NotFound, ValidationError
from survey_app.extensions import db
from survey_app.models import (
    CHANNEL_DEFAULT_QUESTIONNAIRES,
    UNIT_KINDS,
    ChannelQuestionnaire,
    Counter,
    FormerUnitCode,
    Unit,
)
from survey_app.services.csvfiles import check_flag, check_length, read_csv_rows

log = logging.getLogger(__name__)

UNIT_CSV_COLUMNS = ("code", "parent_code", "name_vi", "name_en", "kind")
UNIT_CSV_OPTIONAL = ("place_name_vi", "place_name_en", "former_codes", "active")
COUNTER_CSV_COLUMNS = ("unit_code", "code", "name_vi", "name_en")
UNIT_LENGTHS = {
    "code": 32,
    "parent_code": 32,
    "name_vi": 200,
    "name_en": 200,
    "place_name_vi": 200,
    "place_name_en": 200,
}
COUNTER_LENGTHS = {"code": 32, "name_vi": 200, "name_en": 200}


def find_unit_by_code(code: str) -> Unit | None:
    """The unit with `code`, or the unit that took it over in a merger (former codes, merges)."""
    unit = db.session.scalar(select(Unit).where(Unit.code == code))
    if unit is None:
        former = db.session.get(FormerUnitCode, code)
        unit = former.unit if former else None
    seen = set()
    while unit is not None and unit.merged_into_id is not None and unit.id not in seen:
        seen.add(unit.id)
        unit = unit.merged_into
    return unit


def get_unit_by_code(code: str) -> Unit:
    unit = find_unit_by_code(code)
    if unit is None:
        raise NotFound(f"no unit has the code {code!r}")
    return unit


def find_counter(unit: Unit, code: str) -> Counter | None:
    return db.session.scalar(
        select(Counter).where(Counter.unit_id == unit.id, Counter.code == code)
    )


def list_subtree_unit_ids(unit: Unit) -> list[int]:
    """Ids of `unit` and every unit below it (one indexed prefix match on the path)."""
    return list(db.session.scalars(select(Unit.id).where(Unit.path.startswith(unit.path))))


def path_ids(path: str) -> list[int]:
    """The unit ids on a path ("/1/5/12/"), from the root down to the unit itself."""
    return [int(part) for part in path.strip("/").split("/") if part]


def units_whose_subtree_changed(moves: Mapping[int, tuple[str, str]]) -> set[int]:
    """The units whose subtree holds other units after `moves` (unit id → (old path, new path)):
    those above a moved unit before or after, not both. A moved unit's own subtree moves with it,
    and a unit above it on both paths (the province, when a commune changes district) keeps it."""
    changed: set[int] = set()
    for unit_id, (old, new) in moves.items():
        above_before = set(path_ids(old)) - {unit_id}
        above_after = set(path_ids(new)) - {unit_id}
        changed |= above_before ^ above_after
    return changed


def rebuild_unit_paths() -> None:
    """Recompute every unit's path from the parent links (the tree is small: thousands at most).
    When paths changed, the subtree sums of the units around the moves follow the new tree
    (services/moments.py); the rest of the tree's sums stay as they are."""
    parents = dict(db.session.execute(select(Unit.id, Unit.parent_id)).all())
    paths: dict[int, str] = {}

    def path_of(unit_id: int, seen: frozenset[int] = frozenset()) -> str:
        if unit_id in paths:
            return paths[unit_id]
        if unit_id in seen:
            raise ValidationError({"parent_code": ["the units' parents form a cycle"]})
        parent = parents[unit_id]
        prefix = path_of(parent, seen | {unit_id}) if parent is not None else "/"
        paths[unit_id] = f"{prefix}{unit_id}/"
        return paths[unit_id]

    moves: dict[int, tuple[str, str]] = {}
    for unit in db.session.scalars(select(Unit)):
        path = path_of(unit.id)
        if unit.path != path:
            if unit.path:  # a new unit holds no responses yet
                moves[unit.id] = (unit.path, path)
            unit.path = path
    db.session.flush()
    if moves:
        from survey_app.services.moments import rebuild_subtree_moments  # moments needs this module

        rebuild_subtree_moments(units_whose_subtree_changed(moves))


@dataclass(frozen=True)
class ImportSummary:
    created: int
    updated: int


def import_units_csv(text: str) -> ImportSummary:
    """Create or update units from CSV (columns: code, parent_code, name_vi, name_en, kind, and
    optionally place_name_vi, place_name_en, former_codes separated by ';', active 1/0).
    All rows or none: every problem is reported with its line number."""
    rows = read_csv_rows(text, UNIT_CSV_COLUMNS, UNIT_CSV_OPTIONAL)
    problems: dict[str, list[str]] = {}
    existing = {u.code: u for u in db.session.scalars(select(Unit))}
    taken_former = {f.code: f.unit.code for f in db.session.scalars(select(FormerUnitCode))}
    codes_in_file = {row["code"] for _, row in rows}
    seen: set[str] = set()
    former_in_file: dict[str, int] = {}
    for line, row in rows:
        here = problems.setdefault(f"line {line}", [])
        code, parent = row["code"], row["parent_code"]
        if not code:
            here.append("code is empty")
        elif code in seen:
            here.append(f"code {code!r} appears twice")
        seen.add(code)
        if not row["name_vi"]:
            here.append("name_vi is empty")
        if row["kind"] not in UNIT_KINDS:
            here.append(f"kind {row['kind']!r} is not one of {', '.join(UNIT_KINDS)}")
        if parent and parent not in codes_in_file and parent not in existing:
            here.append(f"parent_code {parent!r} is not a known unit")
        if parent and parent == code:
            here.append("a unit cannot be its own parent")
        check_length(row, UNIT_LENGTHS, here)
        check_flag(row, "active", here)
        for former in _former_codes(row):
            if former in codes_in_file or former in existing:
                here.append(f"former code {former!r} is the current code of a unit")
            elif former in former_in_file:
                here.append(
                    f"former code {former!r} is also given on line {former_in_file[former]}"
                )
            elif taken_former.get(former, code) != code:
                here.append(
                    f"former code {former!r} already belongs to unit {taken_former[former]!r}"
                )
            former_in_file.setdefault(former, line)
    problems = {field: messages for field, messages in problems.items() if messages}
    if problems:
        raise ValidationError(problems)

    created = updated = 0
    for _, row in rows:
        unit = existing.get(row["code"])
        if unit is None:
            unit = Unit(code=row["code"])
            db.session.add(unit)
            existing[row["code"]] = unit
            created += 1
        else:
            updated += 1
        unit.name_vi = row["name_vi"]
        unit.name_en = row["name_en"] or row["name_vi"]
        unit.kind = row["kind"]
        unit.place_name_vi = row.get("place_name_vi") or None
        unit.place_name_en = row.get("place_name_en") or None
        unit.active = check_flag(row, "active", [])
    db.session.flush()
    for _, row in rows:
        unit = existing[row["code"]]
        unit.parent_id = existing[row["parent_code"]].id if row["parent_code"] else None
        for former in _former_codes(row):
            if former not in taken_former:
                db.session.add(FormerUnitCode(code=former, unit_id=unit.id))
    db.session.flush()
    rebuild_unit_paths()
    log.info("units imported created=%s updated=%s", created, updated)
    return ImportSummary(created, updated)


def _former_codes(row: dict[str, str]) -> list[str]:
    return [c.strip() for c in row.get("former_codes", "").split(";") if c.strip()]


def import_counters_csv(text: str) -> ImportSummary:
    """Create or update counters from CSV (columns: unit_code, code, name_vi, name_en, and
    optionally active 1/0). A merged unit's former code is accepted. All rows or none."""
    rows = read_csv_rows(text, COUNTER_CSV_COLUMNS, ("active",))
    problems: dict[str, list[str]] = {}
    units: dict[str, Unit | None] = {}
    seen: dict[tuple[int, str], int] = {}
    for line, row in rows:
        here = problems.setdefault(f"line {line}", [])
        if row["unit_code"] not in units:
            units[row["unit_code"]] = find_unit_by_code(row["unit_code"])
        unit = units[row["unit_code"]]
        if unit is None:
            here.append(f"unit_code {row['unit_code']!r} is not a known unit")
        elif (unit.id, row["code"]) in seen:
            here.append(
                f"counter {row['code']!r} of unit {unit.code!r} is also on line {seen[(unit.id, row['code'])]}"
            )
        else:
            seen[(unit.id, row["code"])] = line
        if not row["code"] or not row["name_vi"]:
            here.append("code and name_vi are required")
        check_length(row, COUNTER_LENGTHS, here)
        check_flag(row, "active", here)
    problems = {field: messages for field, messages in problems.items() if messages}
    if problems:
        raise ValidationError(problems)
    created = updated = 0
    for _, row in rows:
        unit = units[row["unit_code"]]
        counter = find_counter(unit, row["code"])
        if counter is None:
            counter = Counter(unit_id=unit.id, code=row["code"])
            db.session.add(counter)
            created += 1
        else:
            updated += 1
        counter.name_vi = row["name_vi"]
        counter.name_en = row["name_en"] or row["name_vi"]
        counter.active = check_flag(row, "active", [])
    db.session.flush()
    return ImportSummary(created, updated)


def create_unit(
    code: str,
    name_vi: str,
    *,
    kind: str,
    name_en: str = "",
    parent: Unit | None = None,
    place_name_vi: str | None = None,
) -> Unit:
    """Create one unit under `parent` (a root when None)."""
    problems: dict[str, list[str]] = {}
    if kind not in UNIT_KINDS:
        problems["kind"] = [f"must be one of {', '.join(UNIT_KINDS)}"]
    add_unsafe_text_problems(
        problems,
        {"code": code, "name_vi": name_vi, "name_en": name_en, "place_name_vi": place_name_vi},
    )
    if problems:
        raise ValidationError(problems)
    if find_unit_by_code(code) is not None:
        raise ValidationError({"code": [f"a unit with code {code!r} exists already"]})
    unit = Unit(
        code=code,
        name_vi=name_vi,
        name_en=name_en or name_vi,
        kind=kind,
        parent_id=parent.id if parent else None,
        place_name_vi=place_name_vi,
        active=True,
    )
    db.session.add(unit)
    db.session.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    db.session.flush()
    return unit


def create_counter(unit: Unit, code: str, name_vi: str, name_en: str = "") -> Counter:
    problems: dict[str, list[str]] = {}
    add_unsafe_text_problems(problems, {"code": code, "name_vi": name_vi, "name_en": name_en})
    if problems:
        raise ValidationError(problems)
    if find_counter(unit, code) is not None:
        raise ValidationError({"code": [f"unit {unit.code!r} already has a counter {code!r}"]})
    counter = Counter(
        unit_id=unit.id, code=code, name_vi=name_vi, name_en=name_en or name_vi, active=True
    )
    db.session.add(counter)
    db.session.flush()
    return counter


def list_units(codes: Iterable[str] | None = None) -> list[Unit]:
    query = select(Unit).order_by(Unit.path)
    if codes is not None:
        query = query.where(Unit.code.in_(list(codes)))
    return list(db.session.scalars(query))


def update_unit(
    unit: Unit, *, name_vi: str, name_en: str, place_name_vi: str | None, place_name_en: str | None
) -> None:
    """Rename a unit, or change what its questionnaires' [ĐPV] token reads."""
    problems = {}
    if not name_vi.strip():
        problems["name_vi"] = ["is required"]
    for field, value in (
        ("name_vi", name_vi),
        ("name_en", name_en),
        ("place_name_vi", place_name_vi or ""),
        ("place_name_en", place_name_en or ""),
    ):
        if len(value) > 200:
            problems.setdefault(field, []).append("is longer than 200 characters")
    add_unsafe_text_problems(
        problems,
        {
            "name_vi": name_vi,
            "name_en": name_en,
            "place_name_vi": place_name_vi,
            "place_name_en": place_name_en,
        },
    )
    if problems:
        raise ValidationError(problems)
    unit.name_vi = name_vi.strip()
    unit.name_en = name_en.strip() or unit.name_vi
    unit.place_name_vi = (place_name_vi or "").strip() or None
    unit.place_name_en = (place_name_en or "").strip() or None


def set_unit_active(unit: Unit, active: bool) -> None:
    """An inactive unit takes no new responses; its history stays."""
    unit.active = active


def merge_unit(source: Unit, target: Unit) -> None:
    """Merge `source` into `target` (the 2025 reorganisation): `source` becomes an inactive unit
    below `target`, so its history rolls up into `target`'s figures; its children move to
    `target`; its code keeps reaching `target`; its counters stop taking responses."""
    if source.id == target.id:
        raise ValidationError({"target": ["a unit cannot be merged into itself"]})
    if target.path.startswith(source.path):
        raise ValidationError(
            {"target": [f"{target.code} lies inside {source.code}; choose a unit outside it"]}
        )
    if not target.active:
        raise ValidationError({"target": [f"{target.code} is not active"]})
    for child in list(source.children):
        child.parent_id = target.id
    source.parent_id = target.id
    source.merged_into_id = target.id
    source.active = False
    for counter in source.counters:
        counter.active = False
    db.session.flush()
    rebuild_unit_paths()


def update_counter(counter: Counter, *, name_vi: str, name_en: str, active: bool) -> None:
    problems: dict[str, list[str]] = {}
    if not name_vi.strip():
        problems["name_vi"] = ["is required"]
    add_unsafe_text_problems(problems, {"name_vi": name_vi, "name_en": name_en})
    if problems:
        raise ValidationError(problems)
    counter.name_vi = name_vi.strip()
    counter.name_en = name_en.strip() or counter.name_vi
    counter.active = active


def questionnaire_key_for(unit: Unit, channel: str) -> str:
    """The questionnaire `channel` uses at `unit`: its own setting, else the nearest ancestor's,
    else the default for the channel."""
    ancestor_ids = path_ids(unit.path)
    settings = dict(
        db.session.execute(
            select(ChannelQuestionnaire.unit_id, ChannelQuestionnaire.questionnaire_key).where(
                ChannelQuestionnaire.channel == channel,
                ChannelQuestionnaire.unit_id.in_(ancestor_ids),
            )
        ).all()
    )
    for unit_id in reversed(ancestor_ids):
        if unit_id in settings:
            return settings[unit_id]
    return CHANNEL_DEFAULT_QUESTIONNAIRES[channel]


def set_channel_questionnaire(unit: Unit, channel: str, questionnaire_key: str | None) -> None:
    """Choose the questionnaire for `channel` at `unit` (None: inherit again)."""
    if channel not in CHANNEL_DEFAULT_QUESTIONNAIRES:
        raise ValidationError(
            {"channel": [f"must be one of {', '.join(CHANNEL_DEFAULT_QUESTIONNAIRES)}"]}
        )
    setting = db.session.scalar(
        select(ChannelQuestionnaire).where(
            ChannelQuestionnaire.unit_id == unit.id, ChannelQuestionnaire.channel == channel
        )
    )
    if questionnaire_key is None:
        if setting is not None:
            db.session.delete(setting)
        return
    if setting is None:
        setting = ChannelQuestionnaire(unit_id=unit.id, channel=channel)
        db.session.add(setting)
    setting.questionnaire_key = questionnaire_key
