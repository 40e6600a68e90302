"""The `flask …` commands, invoked through the CLI runner on real CSV and definition files."""

import re
import shutil

import pytest
from sqlalchemy import func, inspect, select, update
from sqlalchemy.exc import IntegrityError

from questionnaires import DEFINITIONS_DIR
from survey_app.extensions import db
from survey_app.models import (
    Answer,
    AnswerCount,
    Counter,
    FormerUnitCode,
    MonthlyAnswerCount,
    Questionnaire,
    Response,
    Target,
    Unit,
)
from survey_app.services.submissions import submit_response
from survey_app.services.units import find_unit_by_code
from tests.conftest import FIXTURES
from tests.survey_app.payloads import quick_payload

# The version of each shipped definition file.
SHIPPED_VERSIONS = {"quick-rating": 1, "sipas-annual": 2, "sipas-counter": 1}


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def stored_hashes() -> dict[tuple[str, int], str]:
    return {
        (q.key, q.version): q.content_hash
        for q in db.session.scalars(select(Questionnaire).execution_options(populate_existing=True))
    }


def copy_definitions(tmp_path):
    folder = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS_DIR, folder)
    return folder


def retitle_quick_rating(folder) -> None:
    """Change a text of quick-rating without changing its version."""
    path = folder / "quick-rating.yaml"
    text = path.read_text(encoding="utf-8")
    assert 'vi: "Đánh giá nhanh sự phục vụ"' in text
    path.write_text(
        text.replace('vi: "Đánh giá nhanh sự phục vụ"', 'vi: "Đánh giá nhanh sự phục vụ hôm nay"'),
        encoding="utf-8",
    )


# load-questionnaires


def test_load_questionnaires_adds_every_shipped_definition_to_an_empty_table(runner):
    db.session.execute(Questionnaire.__table__.delete())
    db.session.commit()

    result = runner.invoke(args=["load-questionnaires"])

    assert result.exit_code == 0, result.output
    for key, version in SHIPPED_VERSIONS.items():
        assert f"{key} version {version}: added" in result.output
    assert sorted(stored_hashes()) == sorted(SHIPPED_VERSIONS.items())


def test_load_questionnaires_again_leaves_them_unchanged(runner):
    before = stored_hashes()

    result = runner.invoke(args=["load-questionnaires"])

    assert result.exit_code == 0, result.output
    for key, version in SHIPPED_VERSIONS.items():
        assert f"{key} version {version}: unchanged" in result.output
    assert stored_hashes() == before


def test_load_questionnaires_corrects_a_version_without_responses(runner, tmp_path):
    folder = copy_definitions(tmp_path)
    retitle_quick_rating(folder)
    before = stored_hashes()

    result = runner.invoke(args=["load-questionnaires", "--directory", str(folder)])

    assert result.exit_code == 0, result.output
    assert "quick-rating version 1: updated" in result.output
    assert "sipas-counter version 1: unchanged" in result.output
    after = stored_hashes()
    assert after[("quick-rating", 1)] != before[("quick-rating", 1)]
    assert after[("sipas-counter", 1)] == before[("sipas-counter", 1)]
    stored = db.session.scalar(select(Questionnaire).where(Questionnaire.key == "quick-rating"))
    assert stored.definition["title"]["vi"] == "Đánh giá nhanh sự phục vụ hôm nay"


def test_load_questionnaires_refuses_a_changed_version_that_has_responses(runner, tree, tmp_path):
    submit_response(quick_payload(), channel="web")
    db.session.commit()
    folder = copy_definitions(tmp_path)
    retitle_quick_rating(folder)
    before = stored_hashes()

    result = runner.invoke(args=["load-questionnaires", "--directory", str(folder)])

    assert result.exit_code != 0
    assert "nothing was changed" in result.output
    assert "quick-rating version 1 already has 1 response," in result.output
    assert "Give the changed file version 2" in result.output
    assert stored_hashes() == before
    assert count(Questionnaire) == 3


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("version: 1", "version: zero", "version"),
        ("headline: rating", "headline: rating_khong_co", "headline"),
        ("key: quick-rating", "key: quick-rating\nkey: again", "duplicate key"),
    ],
)
def test_load_questionnaires_refuses_a_broken_definition_naming_file_and_field(
    runner, tmp_path, old, new, field
):
    folder = copy_definitions(tmp_path)
    path = folder / "quick-rating.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    db.session.execute(Questionnaire.__table__.delete())
    db.session.commit()

    result = runner.invoke(args=["load-questionnaires", "--directory", str(folder)])

    assert result.exit_code != 0
    assert "nothing was changed" in result.output
    assert "quick-rating.yaml" in result.output
    assert field in result.output
    # The files sorted before and after it were not stored either.
    assert count(Questionnaire) == 0


# import-units and import-counters


def test_import_units_builds_a_tree_given_children_before_parents(runner):
    result = runner.invoke(args=["import-units", str(FIXTURES / "units_tree.csv")])

    assert result.exit_code == 0, result.output
    assert "units: 4 created, 0 updated" in result.output
    city, ward, desk = (find_unit_by_code(c) for c in ("HN", "HN-AL", "HN-AL-TO1"))
    assert city.parent_id is None
    assert ward.parent_id == city.id
    assert desk.parent_id == ward.id
    assert desk.path == f"/{city.id}/{ward.id}/{desk.id}/"
    assert ward.name_vi == "Phường An Lạc"
    assert ward.place_name_vi == "Bộ phận Một cửa UBND phường An Lạc"
    assert desk.name_en == "Tổ tiếp nhận hồ sơ số 1"  # no English name: the Vietnamese one
    assert city.kind == "province"


def test_import_units_records_former_codes_separated_by_semicolons(runner):
    result = runner.invoke(args=["import-units", str(FIXTURES / "units_tree.csv")])

    assert result.exit_code == 0, result.output
    ward = find_unit_by_code("HN-AL")
    assert sorted(f.code for f in ward.former_codes) == ["HN-X-ANLAC", "HN-X-BINHMINH"]
    assert find_unit_by_code("HN-X-BINHMINH") is ward


def test_import_units_again_updates_instead_of_duplicating(runner):
    runner.invoke(args=["import-units", str(FIXTURES / "units_tree.csv")])

    result = runner.invoke(args=["import-units", str(FIXTURES / "units_tree.csv")])

    assert result.exit_code == 0, result.output
    assert "units: 0 created, 4 updated" in result.output
    assert count(Unit) == 4
    assert count(FormerUnitCode) == 2


def test_import_units_reads_a_file_with_a_byte_order_mark(runner):
    assert (FIXTURES / "units_bom.csv").read_bytes().startswith(b"\xef\xbb\xbf")

    result = runner.invoke(args=["import-units", str(FIXTURES / "units_bom.csv")])

    assert result.exit_code == 0, result.output
    assert "units: 2 created" in result.output
    city = find_unit_by_code("DN")
    assert city.name_vi == "Thành phố Đà Nẵng"
    assert find_unit_by_code("DN-HC").parent_id == city.id


def test_import_units_refuses_a_bad_file_listing_every_problem_by_line(runner):
    result = runner.invoke(args=["import-units", str(FIXTURES / "units_bad.csv")])

    assert result.exit_code != 0
    assert "nothing was changed" in result.output
    assert re.search(r"line 3: kind 'phường' is not one of province", result.output)
    assert "line 4: parent_code 'HN-KHONGCO' is not a known unit" in result.output
    assert "line 5: code 'HN-AL' appears twice" in result.output
    assert "line 2" not in result.output
    assert count(Unit) == 0


def test_import_units_refuses_a_file_without_a_required_column(runner):
    result = runner.invoke(args=["import-units", str(FIXTURES / "units_missing_column.csv")])

    assert result.exit_code != 0
    assert "missing column(s): kind" in result.output
    assert count(Unit) == 0


def test_import_counters_adds_counters_to_imported_units(runner):
    runner.invoke(args=["import-units", str(FIXTURES / "units_tree.csv")])

    result = runner.invoke(args=["import-counters", str(FIXTURES / "counters.csv")])

    assert result.exit_code == 0, result.output
    assert "counters: 3 created, 0 updated" in result.output
    ward = find_unit_by_code("HN-AL")
    names = {c.code: (c.name_vi, c.name_en) for c in ward.counters}
    assert names == {
        "Q1": ("Quầy 1 – Hộ tịch", "Counter 1 – Civil status"),
        "Q2": ("Quầy 2 – Đất đai", "Quầy 2 – Đất đai"),
    }
    assert [c.code for c in find_unit_by_code("HN-STP").counters] == ["Q1"]

    again = runner.invoke(args=["import-counters", str(FIXTURES / "counters.csv")])
    assert "counters: 0 created, 3 updated" in again.output
    assert count(Counter) == 3


def test_import_counters_refuses_a_bad_file_listing_every_problem_by_line(runner):
    runner.invoke(args=["import-units", str(FIXTURES / "units_tree.csv")])

    result = runner.invoke(args=["import-counters", str(FIXTURES / "counters_bad.csv")])

    assert result.exit_code != 0
    assert "line 3: unit_code 'HN-KHONGCO' is not a known unit" in result.output
    assert "line 4: code and name_vi are required" in result.output
    assert count(Counter) == 0


# load-targets


def test_load_targets_reads_shares_and_percentages_alike(runner):
    runner.invoke(args=["import-units", str(FIXTURES / "units_tree.csv")])

    result = runner.invoke(args=["load-targets", str(FIXTURES / "targets.csv")])

    assert result.exit_code == 0, result.output
    assert "targets: 3 added" in result.output
    targets = db.session.scalars(select(Target).order_by(Target.id)).all()
    assert [t.threshold for t in targets] == pytest.approx([0.9, 0.9, 0.85])
    general, ward, factor = targets
    assert (general.unit_id, general.questionnaire_key) == (None, None)
    assert (general.start_year, general.end_year) == (2025, 2030)
    assert general.source_document == "Kế hoạch 226/KH-UBND: SIPAS trên 90% hằng năm"
    assert ward.unit_id == find_unit_by_code("HN-AL").id
    assert ward.questionnaire_key == "sipas-counter"
    assert (factor.metric, factor.period_kind, factor.start_year) == ("factor:A", "quarter", 2026)


def test_load_targets_refuses_a_bad_row_naming_its_line(runner):
    result = runner.invoke(args=["load-targets", str(FIXTURES / "targets_bad.csv")])

    assert result.exit_code != 0
    assert "line 3: threshold 'chín mươi' must be a share (0.9) or a percentage (90%)" in (
        result.output
    )
    assert "line 2" not in result.output
    assert count(Target) == 0


# seed-demo, check-counts, rebuild-counts, setup


def seed(runner, responses: int = 500):
    result = runner.invoke(args=["seed-demo", "--responses", str(responses)])
    assert result.exit_code == 0, result.output
    return result


def test_seed_demo_creates_a_province_with_counters_and_responses(runner):
    result = seed(runner)

    found = re.search(r"demo: (\d+) units, (\d+) counters, 500 responses", result.output)
    assert found, result.output
    assert int(found[1]) >= 30
    assert int(found[1]) == count(Unit)
    assert int(found[2]) == count(Counter) > 0
    assert count(Response) == 500

    checked = runner.invoke(args=["check-counts"])
    assert checked.exit_code == 0, checked.output
    assert "answer counts agree with the answers" in checked.output


def test_seed_demo_loads_rows_in_ascending_response_id(runner):
    """Seeded response ids ascend in the order the rows are loaded, across chunks, so the rows
    go to the end of the answers' unique index (SQLite keeps it during the load). The answers'
    own ids record that order. Ids are still random version-4 UUIDs."""
    from survey_app.services.demo import seed_demo

    seed_demo(700, chunk_size=200)  # four chunks
    db.session.commit()
    loaded = list(db.session.scalars(select(Answer.response_id).order_by(Answer.id)))
    assert len(set(loaded)) == 700
    assert loaded == sorted(loaded, key=lambda response_id: response_id.bytes)
    assert {response_id.version for response_id in loaded} == {4}


def test_check_counts_detects_a_tampered_count_and_rebuild_counts_repairs_it(runner):
    seed(runner)
    cell = db.session.scalars(select(AnswerCount).order_by(AnswerCount.n.desc()).limit(1)).one()
    kept = cell.n
    db.session.execute(
        update(AnswerCount)
        .where(
            *(
                getattr(AnswerCount, c.name) == getattr(cell, c.name)
                for c in AnswerCount.__table__.primary_key.columns
            )
        )
        .values(n=AnswerCount.n + 3)
    )
    db.session.commit()

    checked = runner.invoke(args=["check-counts"])

    assert checked.exit_code != 0
    assert f"kept {kept + 3}, recomputed {kept}" in checked.output
    # The daily cell differs from the answers, and its month's kept sum from the daily cells.
    lines = re.findall(r"^differs: .*$", checked.output, re.MULTILINE)
    assert len(lines) == 2 and sum("'month'" in line for line in lines) == 1
    assert "2 of " in checked.output

    rebuilt = runner.invoke(args=["rebuild-counts"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "answer counts rebuilt" in rebuilt.output
    again = runner.invoke(args=["check-counts"])
    assert again.exit_code == 0, again.output
    assert "agree" in again.output


def test_check_counts_detects_a_tampered_monthly_sum(runner):
    seed(runner, 50)
    cell = db.session.scalars(select(MonthlyAnswerCount).limit(1)).one()
    cell.n += 1
    db.session.commit()

    checked = runner.invoke(args=["check-counts"])

    assert checked.exit_code != 0
    assert f"kept {cell.n}, recomputed {cell.n - 1}" in checked.output
    # It differs from its days' sum, and its year's kept sum differs from its months' sum.
    assert "2 of " in checked.output


def test_check_counts_detects_a_deleted_count(runner):
    seed(runner, 50)
    cell = db.session.scalars(select(AnswerCount).limit(1)).one()
    db.session.delete(cell)
    db.session.commit()

    checked = runner.invoke(args=["check-counts"])

    assert checked.exit_code != 0
    assert f"kept 0, recomputed {cell.n}" in checked.output


def test_setup_seeds_an_empty_database_once(runner):
    first = runner.invoke(args=["setup", "--demo-responses", "300"])

    assert first.exit_code == 0, first.output
    assert "quick-rating version 1: unchanged" in first.output
    assert re.search(r"demo data: \d+ units, \d+ counters, 300 responses", first.output)
    assert count(Response) == 300
    units = count(Unit)

    second = runner.invoke(args=["setup", "--demo-responses", "300"])

    assert second.exit_code == 0, second.output
    assert "demo data" not in second.output
    assert count(Response) == 300
    assert count(Unit) == units
    assert runner.invoke(args=["check-counts"]).exit_code == 0


@pytest.mark.parametrize("responses", [1, 3])
def test_a_tiny_seed_keeps_counts_and_moments_consistent(runner, responses):
    """A chunk may hold no sipas-counter response at all: the moments seed-demo computes from
    memory must still line up with the rows it inserted."""
    seed(runner, responses)

    checked = runner.invoke(args=["check-counts"])

    assert checked.exit_code == 0, checked.output


COUNT_TABLES = ("answer_counts", "answer_counts_monthly", "answer_counts_yearly")


def _schema_of(*tables: str) -> dict:
    """Primary keys, indexes, unique constraints and foreign keys of `tables`, as the database
    reports them."""
    inspector = inspect(db.session.connection())
    return {
        table: (
            inspector.get_pk_constraint(table),
            sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
            sorted(
                (u["name"], tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            sorted(
                (f["name"], tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
        )
        for table in tables
    }


@pytest.mark.parametrize("already_there", [0, 5])
def test_seeding_keeps_every_index_and_constraint(runner, already_there):
    """Into empty tables (PostgreSQL) seed-demo drops the answers' and responses' indexes and
    constraints for the load and builds them after it, and the answer counts' primary keys and
    foreign keys for the counting; into tables holding rows it loads plainly. Either way the
    schema afterwards is the schema before, and the constraints hold."""
    tables = ("answers", "responses", *COUNT_TABLES)
    if already_there:
        seed(runner, already_there)
    before = _schema_of(*tables)
    assert before["answers"][2] and before["answers"][3]  # unique (response, question, value), FK
    assert all(before[t][0]["constrained_columns"] and before[t][3] for t in COUNT_TABLES)

    seed(runner, 300)

    assert _schema_of(*tables) == before
    assert count(Response) == 300 + already_there
    assert runner.invoke(args=["check-counts"]).exit_code == 0
    answer = db.session.scalars(select(Answer).where(Answer.value.is_not(None)).limit(1)).one()
    db.session.add(
        Answer(response_id=answer.response_id, question_key=answer.question_key, value=answer.value)
    )
    with pytest.raises(IntegrityError):  # the unique constraint is back, and enforced
        db.session.flush()
    db.session.rollback()
    kept = db.session.scalars(select(AnswerCount).limit(1)).one()
    twin = {c.key: getattr(kept, c.key) for c in AnswerCount.__table__.columns}
    with pytest.raises(IntegrityError):  # the counts' primary key is back, and enforced
        db.session.execute(AnswerCount.__table__.insert(), twin)
    db.session.rollback()


def test_prune_forgets_old_rate_limit_windows_and_dead_sessions_only(app, runner):
    """What a cookie or a limit can still use stays; what none can is deleted."""
    from datetime import timedelta

    from survey_app.models import RateLimitHit, StaffSession
    from survey_app.services.accounts import create_account, end_session, start_session
    from survey_app.timeutil import utcnow

    now = utcnow()
    account = create_account("canbo", "correct horse battery", display_name="Cán bộ")
    live, _ = start_session(account, now=now)
    ended_long_ago, _ = start_session(account, now=now - timedelta(days=3))
    end_session(ended_long_ago, now=now - timedelta(days=3))
    start_session(account, now=now - timedelta(days=2))  # expired (8 hours) long ago
    db.session.add_all(
        [
            RateLimitHit(key="qr-address:x", window_start=now - timedelta(days=2), hits=3),
            RateLimitHit(key="qr-address:x", window_start=now - timedelta(minutes=5), hits=1),
        ]
    )
    db.session.commit()
    result = runner.invoke(args=["prune"])
    assert result.exit_code == 0, result.output
    assert "rate-limit windows removed: 1; staff sessions removed: 2" in result.output
    db.session.expire_all()
    assert db.session.scalars(select(StaffSession.id)).all() == [live.id]
    assert db.session.scalar(select(func.count()).select_from(RateLimitHit)) == 1
