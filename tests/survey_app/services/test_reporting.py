"""The annual report as data: Bảng 1–6, unweighted from the dashboard's cells, weighted from the
sampling frame (checked against the analytics package on the same records), year over year."""

import random
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from analytics import compose_index, survey_proportion
from survey_app.errors import ValidationError
from survey_app.extensions import db
from survey_app.models import Answer, Response, SamplingFrame
from survey_app.services.access import Access
from survey_app.services.counts import rebuild_answer_counts
from survey_app.services.figures import FigureBuilder, Filters
from survey_app.services.frames import import_frame_csv, list_frame
from survey_app.services.moments import rebuild_index_moments
from survey_app.services.periods import period_of
from survey_app.services.questionnaires import get_current_questionnaire, grouping_of
from survey_app.services.reporting import (
    NOT_CLASSIFIED,
    UNWEIGHTED,
    build_annual_report,
)
from survey_app.services.sql import bulk_insert
from survey_app.timeutil import local_day

COUNTER_ITEMS = [f"c9_{n}" for n in range(24, 40)]


def store_forms(key, forms):
    """Bulk-store forms [(unit, counter, channel, moment, answers)] and rebuild the counts and
    moments from them (the demo data's path: far faster than one submit_response per form, which
    test_figures and test_submissions cover)."""
    questionnaire, definition = get_current_questionnaire(key)
    multi = {q.key for q in definition.questions if q.type == "multi"}
    responses, answers = [], []
    for unit, counter, channel, moment, values in forms:
        rid = uuid.uuid4()
        responses.append(
            {
                "id": rid,
                "questionnaire_id": questionnaire.id,
                "unit_id": unit.id,
                "counter_id": counter.id if counter else None,
                "channel": channel,
                "entered_by": "citizen",
                "locale": "vi",
                "submitted_at": moment,
                "received_at": moment,
                "local_day": local_day(moment, "Asia/Ho_Chi_Minh"),
                "weight": 1.0,
                "content_hash": "test",
            }
        )
        for question, value in values.items():
            for v in value if question in multi else [value]:
                answers.append(
                    {"response_id": rid, "question_key": question, "value": v, "text": None}
                )
    bulk_insert(Response.__table__, responses)
    bulk_insert(Answer.__table__, answers)
    rebuild_answer_counts()
    rebuild_index_moments()
    db.session.commit()


def counter_forms(unit, counter, how_many, *, year, level, rng, channel="web"):
    """sipas-counter forms in `year`: (form tuples, answers as given)."""
    moment = datetime(year, 6, 10, 3, 0, tzinfo=UTC)
    forms = []
    for _ in range(how_many):
        answers = {}
        for item in COUNTER_ITEMS:
            if item == "c9_24" or rng.random() < 0.9:  # c9_24 always answered
                answers[item] = (
                    rng.choice([4, 5]) if rng.random() < level else rng.choice([1, 2, 3])
                )
        answers["overall"] = rng.choice([3, 4, 5])
        forms.append((unit, counter, channel, moment, answers))
    return forms


def submit_counter_forms(unit, counter, how_many, *, year, level, rng, channel="web"):
    forms = counter_forms(unit, counter, how_many, year=year, level=level, rng=rng, channel=channel)
    store_forms("sipas-counter", forms)
    return [f[4] for f in forms]


@pytest.fixture
def year_data(tree):
    """2025: 80 forms at P-W1/Q1 (hộ tịch), 60 at P-W1/Q2 (đất đai), 50 at P-C1/Q1 (no area);
    2024: 70 forms at P-W1/Q1."""
    tree.q1.service_area = "Hộ tịch"
    tree.q2.service_area = "Đất đai"
    db.session.commit()
    commune_q1 = tree.commune.counters[0]
    rng = random.Random(11)
    parts = {
        ("P-W1", "Hộ tịch"): counter_forms(tree.ward, tree.q1, 80, year=2025, level=0.93, rng=rng),
        ("P-W1", "Đất đai"): counter_forms(
            tree.ward, tree.q2, 60, year=2025, level=0.8, rng=rng, channel="qr_counter"
        ),
        ("P-C1", NOT_CLASSIFIED): counter_forms(
            tree.commune, commune_q1, 50, year=2025, level=0.88, rng=rng
        ),
    }
    last_year = counter_forms(tree.ward, tree.q1, 70, year=2024, level=0.85, rng=rng)
    store_forms("sipas-counter", [f for forms in parts.values() for f in forms] + last_year)
    data = {stratum: [f[4] for f in forms] for stratum, forms in parts.items()}
    return data


def report_for(tree, year=2025, **kwargs):
    units = [tree.province, tree.ward, tree.commune]
    return build_annual_report(tree.province, units, year, **kwargs)


def positives(answers_list):
    matrix = np.full((len(answers_list), len(COUNTER_ITEMS)), np.nan)
    for i, answers in enumerate(answers_list):
        for j, item in enumerate(COUNTER_ITEMS):
            if item in answers:
                matrix[i, j] = 1.0 if answers[item] >= 4 else 0.0
    return matrix


def grouping():
    return grouping_of(get_current_questionnaire("sipas-counter")[1])


def row_of(table, code):
    index = [c.key for c in table.columns].index("unit_code")
    return next(r for r in table.rows if r[index] == code)


def cell(table, row, key):
    return row[[c.key for c in table.columns].index(key)]


def test_unweighted_report_uses_the_dashboards_cells_and_says_it_is_unweighted(year_data, tree):
    report = report_for(tree)
    assert not report.weighted and report.weighting == UNWEIGHTED
    metadata = dict(report.metadata())
    assert "01/01/2025 – 31/12/2025" in metadata["Kỳ báo cáo"]
    assert "sipas-counter phiên bản 1" in metadata["Bảng hỏi"]
    assert metadata["Gia quyền"] == "Không gia quyền (chưa nhập khung mẫu)"
    assert "Wilson" in metadata["Khoảng tin cậy"]

    ranking = report.table(1)
    filters = Filters("sipas-counter", period_of("year", datetime(2025, 1, 1).date()))
    dashboard = FigureBuilder([tree.province], filters).for_unit(tree.province)
    root = row_of(ranking, "P")
    assert cell(ranking, root, "sipas") == pytest.approx(dashboard.headline.estimate, abs=1e-12)
    assert cell(ranking, root, "low") == pytest.approx(dashboard.headline.low, abs=1e-12)
    assert cell(ranking, root, "n") == 190
    assert cell(ranking, root, "rank") is None  # the total is not ranked

    # The same figure from the raw answers, through the analytics package.
    everything = [a for rows in year_data.values() for a in rows]
    expected = compose_index(positives(everything), COUNTER_ITEMS, grouping(), target=0.9)
    assert cell(ranking, root, "sipas") == pytest.approx(expected.index.estimate, abs=1e-12)
    assert cell(ranking, root, "high") == pytest.approx(expected.index.high, abs=1e-9)
    assert cell(ranking, root, "deff") == pytest.approx(expected.index.deff, rel=1e-9)
    assert (
        cell(ranking, root, "verdict")
        == {
            "met": "đạt",
            "not_met": "không đạt",
            "inconclusive": "chưa đủ căn cứ",
        }[expected.index.verdict.value]
    )

    ranks = [cell(ranking, r, "rank") for r in ranking.rows[1:]]
    assert ranks == [1, 2]
    ward, commune = row_of(ranking, "P-W1"), row_of(ranking, "P-C1")
    assert (cell(ranking, ward, "sipas") > cell(ranking, commune, "sipas")) == (
        cell(ranking, ward, "rank") < cell(ranking, commune, "rank")
    )


def test_last_year_and_the_change_with_its_interval(year_data, tree):
    ranking = report_for(tree).table(1)
    ward = row_of(ranking, "P-W1")
    previous = cell(ranking, ward, "previous")
    assert previous is not None
    change = cell(ranking, ward, "change")
    assert change == pytest.approx((cell(ranking, ward, "sipas") - previous) * 100, abs=1e-9)
    low, high = cell(ranking, ward, "change_low"), cell(ranking, ward, "change_high")
    assert low < change < high
    assert cell(ranking, ward, "significant") == ("có" if low > 0 or high < 0 else "không")
    assert cell(ranking, row_of(ranking, "P-C1"), "previous") is None  # nothing in 2024


def test_component_and_question_tables(year_data, tree):
    report = report_for(tree)
    components = report.table(2)
    keys = [c.key for c in components.columns]
    for key in ("factor_A", "factor_E", "content_service", "index", "index_low", "index_high"):
        assert key in keys
    assert "factor_IA" not in keys
    root = row_of(components, "P")
    everything = [a for rows in year_data.values() for a in rows]
    expected = compose_index(positives(everything), COUNTER_ITEMS, grouping())
    assert cell(components, root, "factor_B") == pytest.approx(expected.factors["B"].estimate)
    assert cell(components, root, "content_service") == pytest.approx(
        expected.contents["service"].estimate
    )

    questions = report.table(3)
    assert [r[0] for r in questions.rows] == [*COUNTER_ITEMS, "overall"]
    first = questions.rows[0]
    assert first[2] == 190  # c9_24 was always answered
    levels = [cell(questions, first, f"level_{v}") for v in range(1, 6)]
    assert sum(levels) == pytest.approx(1.0)
    satisfied = sum(1 for a in everything if a["c9_24"] >= 4)
    assert cell(questions, first, "satisfied") == pytest.approx(satisfied / 190)
    assert levels[3] + levels[4] == pytest.approx(satisfied / 190)


def test_tables_four_and_five_say_they_are_not_in_the_counter_questionnaire(year_data, tree):
    report = report_for(tree)
    for number in (4, 5):
        table = report.table(number)
        assert not table.available
        assert "Không thuộc bảng hỏi này" in table.rows[0][0]
    sample = report.table(6)
    by_group = {r[1]: r[2] for r in sample.rows if r[0] == "Kênh"}
    assert by_group == {"Trang web": 130, "Mã QR tại quầy": 60}
    assert sum(r[3] for r in sample.rows if r[0] == "Kênh") == pytest.approx(1.0)


def frame_csv(areas_n):
    lines = ["unit_code,service_area,transactions"]
    lines += [f"{code},{area},{n}" for (code, area), n in areas_n.items()]
    return "\n".join(lines) + "\n"


FRAME = {("P-W1", "Hộ tịch"): 2000, ("P-W1", "Đất đai"): 300, ("P-C1", NOT_CLASSIFIED): 120}


def design_arrays(year_data, frame):
    answers, weights, strata, population = [], [], [], {}
    for stratum, rows in year_data.items():
        answers += rows
        weights += [frame[stratum] / len(rows)] * len(rows)
        strata += [stratum] * len(rows)
        population[stratum] = frame[stratum]
    return positives(answers), np.array(weights), strata, population


def test_weighted_figures_equal_the_design_based_estimator_on_the_same_records(year_data, tree):
    import_frame_csv(frame_csv(FRAME), 2025)
    db.session.commit()
    report = report_for(tree)
    assert report.weighted
    assert "trọng số = số hồ sơ / số phiếu" in report.weighting
    assert "FPC" in report.weighting

    matrix, weights, strata, population = design_arrays(year_data, FRAME)
    expected = compose_index(
        matrix,
        COUNTER_ITEMS,
        grouping(),
        weights=weights,
        strata=strata,
        population=population,
        target=0.9,
    )
    ranking = report.table(1)
    root = row_of(ranking, "P")
    assert cell(ranking, root, "sipas") == pytest.approx(expected.index.estimate, abs=1e-12)
    assert cell(ranking, root, "low") == pytest.approx(expected.index.low, abs=1e-12)
    assert cell(ranking, root, "high") == pytest.approx(expected.index.high, abs=1e-12)
    assert cell(ranking, root, "deff") == pytest.approx(expected.index.deff, rel=1e-9)
    assert cell(ranking, root, "n_eff") == pytest.approx(expected.index.n_eff, rel=1e-9)
    # The weighted figure differs from the unweighted one (the frame changes the answer).
    unweighted = compose_index(matrix, COUNTER_ITEMS, grouping()).index.estimate
    assert abs(cell(ranking, root, "sipas") - unweighted) > 1e-4

    # A unit is a union of strata: its figure is the design restricted to its own strata.
    ward_rows = [i for i, s in enumerate(strata) if s[0] == "P-W1"]
    ward_expected = compose_index(
        matrix[ward_rows],
        COUNTER_ITEMS,
        grouping(),
        weights=weights[ward_rows],
        strata=[strata[i] for i in ward_rows],
        population={k: v for k, v in population.items() if k[0] == "P-W1"},
    )
    ward = row_of(ranking, "P-W1")
    assert cell(ranking, ward, "sipas") == pytest.approx(ward_expected.index.estimate, abs=1e-12)
    assert cell(ranking, ward, "high") == pytest.approx(ward_expected.index.high, abs=1e-12)

    # An item answered by everyone is the plain design-based share (survey_proportion).
    y = matrix[:, 0]
    share = survey_proportion(y, weights, strata=strata, population=population)
    questions = report.table(3)
    first = questions.rows[0]
    assert cell(questions, first, "satisfied") == pytest.approx(share.estimate, abs=1e-12)
    assert cell(questions, first, "low") == pytest.approx(share.low, abs=1e-12)
    assert cell(questions, first, "deff") == pytest.approx(share.deff, rel=1e-9)
    levels = [cell(questions, first, f"level_{v}") for v in range(1, 6)]
    assert sum(levels) == pytest.approx(1.0)
    assert levels[3] + levels[4] == pytest.approx(share.estimate)
    # 2024 has no frame: said, and last year's figure stays the dashboard's.
    assert any("2024 chưa có khung mẫu" in note for note in report.notes)
    for number in (4, 5, 6):
        assert any("không gia quyền" in note for note in report.table(number).notes)


def test_responses_outside_the_frame_are_left_out_and_said(year_data, tree):
    partial = {k: v for k, v in FRAME.items() if k[0] == "P-W1"}
    import_frame_csv(frame_csv(partial), 2025)
    db.session.commit()
    report = report_for(tree)
    assert any("50 phiếu thuộc 1 tầng không có trong khung mẫu" in n for n in report.notes)
    ranking = report.table(1)
    assert cell(ranking, row_of(ranking, "P"), "n") == 140
    assert cell(ranking, row_of(ranking, "P-C1"), "n") == 0
    assert cell(ranking, row_of(ranking, "P-C1"), "verdict") == "không có phiếu"


def test_a_stratum_with_one_response_is_pooled_for_the_variance(tree):
    tree.q1.service_area = "Hộ tịch"
    tree.q2.service_area = "Đất đai"
    db.session.commit()
    rng = random.Random(3)
    submit_counter_forms(tree.ward, tree.q1, 40, year=2025, level=0.9, rng=rng)
    submit_counter_forms(tree.ward, tree.q2, 1, year=2025, level=0.9, rng=rng)
    import_frame_csv(frame_csv({("P-W1", "Hộ tịch"): 500, ("P-W1", "Đất đai"): 50}), 2025)
    db.session.commit()
    report = report_for(tree)
    assert report.table(1).rows[0][3] is not None
    assert any("gộp" in note for note in report.notes)


def submit_annual(unit, how_many, *, rng, year=2025):
    _, definition = get_current_questionnaire("sipas-annual")
    items = grouping_of(definition).items
    moment = datetime(year, 9, 1, 3, tzinfo=UTC)
    forms = []
    for i in range(how_many):
        answers = {item: rng.choice([2, 3, 4, 5, 5]) for item in items}
        answers.update({f"c10_{k:02d}": rng.choice([1, 2, 3, 4]) for k in range(1, 11)})
        answers["c2"] = sorted(rng.sample([1, 2, 3, 4, 5, 6], 2))
        answers["c5"] = rng.choice([1, 2, 3])
        answers["gender"] = 1 + i % 2
        answers["age_band"] = 1 + i % 5
        forms.append((unit, None, "interviewer" if i % 3 else "web", moment, answers))
    store_forms("sipas-annual", forms)


def test_the_annual_design_report(tree):
    submit_annual(tree.ward, 40, rng=random.Random(5))
    report = report_for(tree, questionnaire_key="sipas-annual")
    keys = [c.key for c in report.table(2).columns]
    for key in ("factor_IA", "factor_ID", "content_policy", "content_service", "index"):
        assert key in keys
    views = report.table(4)
    assert views.available
    c2 = [r for r in views.rows if r[0] == "c2"]
    assert len(c2) == 7 and all(r[5] == 40 for r in c2)
    assert sum(r[6] for r in c2) == pytest.approx(2.0)  # two choices each: 200 %
    c5 = [r for r in views.rows if r[0] == "c5"]
    assert sum(r[6] for r in c5) == pytest.approx(1.0)

    expectations = report.table(5)
    assert len(expectations.rows) == 10
    wanted = [cell(expectations, r, "wanted") for r in expectations.rows]
    assert wanted == sorted(wanted, reverse=True)

    sample = report.table(6)
    groups = {(r[0], r[1]): r[2] for r in sample.rows}
    assert groups[("Giới tính", "Nam")] == 20 and groups[("Giới tính", "Nữ")] == 20
    assert groups[("Độ tuổi", "Trên 60")] == 8
    assert groups[("Kênh", "Điều tra viên")] == 26 and groups[("Kênh", "Trang web")] == 14

    assert report.table(1).rows[0][3] is not None


def test_report_refuses_an_unknown_questionnaire_or_year(tree):
    with pytest.raises(ValidationError):
        report_for(tree, questionnaire_key="quick-rating")
    with pytest.raises(ValidationError):
        report_for(tree, year=1990)


# --- the frame import ------------------------------------------------------------------------


def test_frame_import_replaces_the_units_rows_for_the_year(tree):
    summary = import_frame_csv(frame_csv(FRAME), 2025)
    db.session.commit()
    assert (summary.rows, summary.units, summary.transactions) == (3, 2, 2420)
    import_frame_csv("unit_code,service_area,transactions\nP-W1,Hộ tịch,10\n", 2025)
    db.session.commit()
    rows = list_frame(2025, [tree.ward.id, tree.commune.id])
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("P-W1", "Hộ tịch", 10),
        ("P-C1", NOT_CLASSIFIED, 120),
    ] or sorted(r[0] for r in rows) == ["P-C1", "P-W1"]
    assert {(r[0], r[2]): r[3] for r in rows} == {
        ("P-W1", "Hộ tịch"): 10,
        ("P-C1", NOT_CLASSIFIED): 120,
    }


def test_frame_import_is_strict_and_all_or_nothing(tree):
    text = (
        "unit_code,service_area,transactions\n"
        "P-W1,Hộ tịch,100\n"
        "NOPE,Đất đai,5\n"
        "P-W1,,7\n"
        "P-C1,Tổng hợp,-3\n"
        "P-W1,Hộ tịch,50\n"
    )
    with pytest.raises(ValidationError) as caught:
        import_frame_csv(text, 2025)
    problems = caught.value.problems
    assert "NOPE" in problems["line 3"][0]
    assert "service_area is empty" in problems["line 4"]
    assert "transactions '-3'" in problems["line 5"][0]
    assert "already on line 2" in problems["line 6"][0]
    assert "line 2" not in problems
    db.session.rollback()
    assert db.session.query(SamplingFrame).count() == 0
    with pytest.raises(ValidationError) as caught:
        import_frame_csv("unit_code,service_area\nP-W1,x\n", 2025)
    assert "missing column" in caught.value.problems["file"][0]
    with pytest.raises(ValidationError):
        import_frame_csv(frame_csv(FRAME), 1999)


def test_frame_import_is_limited_to_the_units_a_manager_manages(tree):
    access = Access(None, False, (tree.ward.path,), (tree.ward.path,))
    with pytest.raises(ValidationError) as caught:
        import_frame_csv(frame_csv(FRAME), 2025, access=access)
    assert list(caught.value.problems) == ["line 4"]
    assert "not a unit you manage" in caught.value.problems["line 4"][0]
