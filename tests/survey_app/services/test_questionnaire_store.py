"""Questionnaire versions in the database: storing definitions, finding the current or a given one."""

import pytest
from sqlalchemy import func, select

from questionnaires import DEFINITIONS_DIR, Definition, parse_definition_yaml
from survey_app.errors import NotFound, QuestionnaireVersionConflict
from survey_app.extensions import db
from survey_app.models import Questionnaire
from survey_app.services.questionnaires import (
    find_questionnaire_version,
    get_current_questionnaire,
    list_questionnaires,
    store_definition,
)
from survey_app.services.submissions import submit_response
from tests.survey_app.payloads import quick_payload

SHIPPED_TITLE = 'vi: "Đánh giá nhanh sự phục vụ"'


def quick_rating(version: int = 1, title_vi: str | None = None) -> Definition:
    """The shipped quick-rating definition, as another version or with another Vietnamese title."""
    text = (DEFINITIONS_DIR / "quick-rating.yaml").read_text(encoding="utf-8")
    assert "version: 1\n" in text and SHIPPED_TITLE in text
    text = text.replace("version: 1\n", f"version: {version}\n")
    if title_vi is not None:
        text = text.replace(SHIPPED_TITLE, f'vi: "{title_vi}"')
    return parse_definition_yaml(text, "quick-rating.yaml")


def stored(key: str, version: int) -> Questionnaire:
    return db.session.scalar(
        select(Questionnaire)
        .where(Questionnaire.key == key, Questionnaire.version == version)
        .execution_options(populate_existing=True)
    )


def versions_of(key: str) -> list[int]:
    return list(
        db.session.scalars(
            select(Questionnaire.version).where(Questionnaire.key == key).order_by("version")
        )
    )


# store_definition


def test_store_definition_adds_a_new_version(app):
    outcome = store_definition(quick_rating(version=2))

    assert (outcome.key, outcome.version, outcome.status) == ("quick-rating", 2, "added")
    assert versions_of("quick-rating") == [1, 2]
    assert stored("quick-rating", 2).content_hash == quick_rating(version=2).content_hash


def test_store_definition_leaves_identical_content_unchanged(app):
    before = stored("quick-rating", 1)
    loaded_at = before.loaded_at

    outcome = store_definition(quick_rating())

    assert outcome.status == "unchanged"
    assert stored("quick-rating", 1).loaded_at == loaded_at
    assert versions_of("quick-rating") == [1]


def test_store_definition_corrects_a_version_without_responses(app):
    corrected = quick_rating(title_vi="Đánh giá nhanh (đã sửa)")

    outcome = store_definition(corrected)

    assert outcome.status == "updated"
    row = stored("quick-rating", 1)
    assert row.content_hash == corrected.content_hash
    assert row.definition["title"]["vi"] == "Đánh giá nhanh (đã sửa)"
    _, definition = find_questionnaire_version("quick-rating", 1)
    assert definition.title.vi == "Đánh giá nhanh (đã sửa)"
    assert versions_of("quick-rating") == [1]


def test_store_definition_refuses_to_change_a_version_with_responses(tree):
    for _ in range(2):
        submit_response(quick_payload(), channel="web")
    db.session.commit()
    original_hash = stored("quick-rating", 1).content_hash

    with pytest.raises(QuestionnaireVersionConflict) as refused:
        store_definition(quick_rating(title_vi="Đánh giá nhanh (đã sửa)"))
    db.session.rollback()

    message = str(refused.value)
    assert "quick-rating version 1 already has 2 responses" in message
    assert "Give the changed file version 2" in message
    assert stored("quick-rating", 1).content_hash == original_hash


def test_store_definition_names_the_version_after_the_newest_in_a_conflict(tree):
    store_definition(quick_rating(version=2))
    submit_response(quick_payload(), channel="web")
    db.session.commit()

    with pytest.raises(QuestionnaireVersionConflict, match="Give the changed file version 3"):
        store_definition(quick_rating(title_vi="Đánh giá nhanh (đã sửa)"))


def test_store_definition_still_accepts_unchanged_content_of_a_version_with_responses(tree):
    submit_response(quick_payload(), channel="web")
    db.session.commit()

    assert store_definition(quick_rating()).status == "unchanged"


def test_store_definition_adds_a_new_version_beside_one_with_responses(tree):
    submit_response(quick_payload(), channel="web")
    db.session.commit()

    outcome = store_definition(quick_rating(version=2, title_vi="Đánh giá nhanh (bản 2)"))

    assert outcome.status == "added"
    assert versions_of("quick-rating") == [1, 2]


# get_current_questionnaire / find_questionnaire_version / list_questionnaires


def test_get_current_questionnaire_is_the_highest_version(app):
    store_definition(quick_rating(version=3, title_vi="Bản 3"))
    store_definition(quick_rating(version=2, title_vi="Bản 2"))

    questionnaire, definition = get_current_questionnaire("quick-rating")

    assert questionnaire.version == 3
    assert (definition.version, definition.title.vi) == (3, "Bản 3")


def test_get_current_questionnaire_raises_not_found_for_an_unknown_key(app):
    with pytest.raises(NotFound, match="'khong-co'"):
        get_current_questionnaire("khong-co")


def test_find_questionnaire_version_finds_an_older_version(app):
    store_definition(quick_rating(version=2, title_vi="Bản 2"))

    questionnaire, definition = find_questionnaire_version("quick-rating", 1)

    assert questionnaire.version == 1
    assert definition.title.vi == "Đánh giá nhanh sự phục vụ"
    assert definition.content_hash == questionnaire.content_hash


@pytest.mark.parametrize(("key", "version"), [("khong-co", 1), ("quick-rating", 2)])
def test_find_questionnaire_version_is_none_for_what_is_not_loaded(app, key, version):
    assert find_questionnaire_version(key, version) is None


def test_list_questionnaires_orders_by_key_then_version(app):
    store_definition(quick_rating(version=2))

    listed = [(q.key, q.version) for q in list_questionnaires()]

    assert listed == [
        ("quick-rating", 1),
        ("quick-rating", 2),
        ("sipas-annual", 2),
        ("sipas-counter", 1),
    ]
    assert db.session.scalar(select(func.count()).select_from(Questionnaire)) == 4
