"""Targets: reading them from CSV and finding the one that applies to a unit, questionnaire and year."""

import pytest
from sqlalchemy import func, select

from survey_app.errors import ValidationError
from survey_app.extensions import db
from survey_app.models import Target
from survey_app.services.targets import (
    ApplicableTarget,
    find_applicable_target,
    import_targets_csv,
)
from survey_app.services.units import create_unit

HEADER = "metric,threshold,period_kind,source_document,unit_code,questionnaire,start_year,end_year"
DEFAULT = 0.9


def load(*rows: str) -> list[Target]:
    """Load CSV rows (after the header) through the import service; the targets by row order."""
    import_targets_csv("\n".join([HEADER, *rows]) + "\n")
    return list(db.session.scalars(select(Target).order_by(Target.id)))


def applicable(unit, *, questionnaire="sipas-counter", year=2025, metric="headline", period="year"):
    return find_applicable_target(
        unit,
        metric=metric,
        questionnaire_key=questionnaire,
        period_kind=period,
        year=year,
        default_threshold=DEFAULT,
    )


# find_applicable_target


def test_without_targets_the_configured_default_applies(tree):
    assert applicable(tree.ward) == ApplicableTarget(DEFAULT, ">=", "", None)


def test_the_nearest_ancestors_target_wins_over_the_provinces(tree):
    everywhere, province, ward = load(
        "headline,80%,year,Nghị quyết chung,,,,",
        "headline,85%,year,KH tỉnh,P,,,",
        "headline,95%,year,KH phường,P-W1,,,",
    )

    assert applicable(tree.ward).target_id == ward.id
    assert applicable(tree.ward).threshold == pytest.approx(0.95)
    assert applicable(tree.commune).target_id == province.id
    assert applicable(tree.province).target_id == province.id
    elsewhere = create_unit("Q", "Tỉnh Khác", kind="province")
    assert applicable(elsewhere).target_id == everywhere.id


def test_a_target_on_a_unit_covers_every_level_below_it(tree):
    (province,) = load("headline,85%,year,KH tỉnh,P,,,")
    hamlet = create_unit("P-W1-T1", "Tổ dân phố 1", kind="other", parent=tree.ward)

    assert applicable(hamlet).target_id == province.id


def test_a_questionnaire_specific_target_wins_over_a_general_one(tree):
    general, counter_form = load(
        "headline,85%,year,KH tỉnh,P,,,",
        "headline,92%,year,KH tỉnh (quầy),P,sipas-counter,,",
    )

    assert applicable(tree.commune, questionnaire="sipas-counter").target_id == counter_form.id
    assert applicable(tree.commune, questionnaire="quick-rating").target_id == general.id


def test_a_nearer_general_target_wins_over_a_wider_questionnaire_specific_one(tree):
    _, ward = load(
        "headline,92%,year,KH tỉnh (quầy),P,sipas-counter,,",
        "headline,95%,year,KH phường,P-W1,,,",
    )

    assert applicable(tree.ward, questionnaire="sipas-counter").target_id == ward.id


@pytest.mark.parametrize(
    ("year", "expected"),
    [(2019, None), (2020, "old"), (2024, "old"), (2025, "new"), (2031, "new")],
)
def test_a_target_applies_only_between_its_start_and_end_years(tree, year, expected):
    old, new = load(
        "headline,70%,year,KH 2020–2024,P,,2020,2024",
        "headline,90%,year,KH 2025–,P,,2025,",
    )

    found = applicable(tree.ward, year=year)

    assert found.target_id == {"old": old.id, "new": new.id, None: None}[expected]


def test_a_target_for_another_metric_or_period_does_not_apply(tree):
    load(
        "factor:A,95%,year,KH tỉnh,P,,,",
        "headline,95%,quarter,KH tỉnh,P,,,",
    )

    found = applicable(tree.ward)

    assert (found.threshold, found.target_id) == (DEFAULT, None)


def test_the_applicable_target_carries_its_comparison_and_source(tree):
    import_targets_csv(
        "metric,threshold,period_kind,source_document,comparison,unit_code\n"
        "headline,90%,year,Kế hoạch 226/KH-UBND,>,P\n"
    )

    found = applicable(tree.ward)

    assert (found.comparison, found.source_document) == (">", "Kế hoạch 226/KH-UBND")


# import_targets_csv


@pytest.mark.parametrize(
    ("written", "stored"),
    [("90%", 0.9), ("0.9", 0.9), ("90", 0.9), ("95.5%", 0.955), ("0.5%", 0.005)],
)
def test_import_targets_csv_reads_a_share_or_a_percentage(app, written, stored):
    (target,) = load(f"headline,{written},year,KH,,,,")

    assert target.threshold == pytest.approx(stored)


@pytest.mark.parametrize("written", ["100%", "0", "-5%", "chín mươi", "nan", ""])
def test_import_targets_csv_refuses_a_threshold_outside_zero_to_one(app, written):
    with pytest.raises(ValidationError) as refused:
        load(f"headline,{written},year,KH,,,,")

    assert refused.value.problems == {
        "line 2": [f"threshold {written!r} must be a share (0.9) or a percentage (90%)"]
    }


def test_import_targets_csv_accepts_a_former_unit_code(app):
    from survey_app.services.units import find_unit_by_code, import_units_csv

    import_units_csv(
        "code,parent_code,name_vi,name_en,kind,former_codes\nP-HM,,Phường Hòa Minh,,ward,P-X01\n"
    )

    (target,) = load("headline,90%,year,KH,P-X01,,,")

    assert target.unit_id == find_unit_by_code("P-HM").id


def test_import_targets_csv_lists_every_problem_of_every_line(app):
    with pytest.raises(ValidationError) as refused:
        load(
            "headline,90%,year,KH,,,,",
            "tong-hop,90%,nam,KH,P-KHONGCO,,1999,",
        )

    problems = refused.value.problems
    assert list(problems) == ["line 3"]
    assert len(problems["line 3"]) == 4  # metric, period_kind, unit_code, start_year
    assert db.session.scalar(select(func.count()).select_from(Target)) == 0


def test_import_targets_csv_refuses_an_end_year_before_the_start_year(app):
    with pytest.raises(ValidationError) as refused:
        load("headline,90%,year,KH,,,2026,2025")

    assert list(refused.value.problems) == ["line 2"]
