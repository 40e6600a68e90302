"""The server-rendered questionnaire form: rendering any page of any definition, and reading the
submitted fields back into answers with messages per question."""

import pytest
from werkzeug.datastructures import MultiDict

from survey_app.services.forms import (
    build_form,
    check_kept_answers,
    errors_from_problems,
    estimated_minutes,
    field_name,
    read_form,
)
from survey_app.services.submissions import submit_response
from tests.survey_app.payloads import quick_payload


@pytest.fixture
def definitions(shipped_definitions):
    return shipped_definitions


def _form(**fields) -> MultiDict:
    data = MultiDict()
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            data.add(field_name(key), str(item))
    return data


def test_every_page_of_every_shipped_questionnaire_renders(definitions):
    for definition in definitions.values():
        view = build_form(definition, locale="vi", place_name="Bộ phận Một cửa")
        assert [s.key for s in view.sections] == [p.key for p in definition.pages]
        keys = [f.key for s in view.sections for f in s.fields]
        assert keys == [k for p in definition.pages for k in p.questions]
        for page in definition.pages:
            one = build_form(definition, locale="en", place_name="X", page_keys=[page.key])
            assert [s.key for s in one.sections] == [page.key]


def test_the_place_token_is_replaced_in_the_locale(definitions):
    counter = definitions["sipas-counter"]
    vi = build_form(counter, locale="vi", place_name="UBND phường An Lạc")
    en = build_form(counter, locale="en", place_name="An Lac ward")
    first_vi, first_en = vi.sections[0].fields[0], en.sections[0].fields[0]
    assert first_vi.text.startswith("UBND phường An Lạc có biển hiệu")
    assert first_en.text.startswith("An Lac ward has clear signs")
    assert "[ĐPV]" not in vi.description and "[ĐPV]" not in first_vi.text
    assert first_vi.choices[0].label == "Rất không hài lòng"


def test_values_and_errors_are_shown_on_their_question(definitions):
    quick = definitions["quick-rating"]
    view = build_form(
        quick,
        locale="vi",
        place_name="X",
        values={"rating": 1, "reasons": [2, 3], "reason_text": "chờ lâu"},
        errors={"reasons": ["bad"]},
        form_errors=["top"],
    )
    fields = {f.key: f for f in view.sections[0].fields}
    assert [c.value for c in fields["rating"].choices if c.checked] == [1]
    assert [c.value for c in fields["reasons"].choices if c.checked] == [2, 3]
    assert fields["reason_text"].text_value == "chờ lâu"
    assert fields["reasons"].errors == ("bad",) and fields["rating"].errors == ()
    assert fields["reasons"].show_if_name == field_name("rating")
    assert fields["reasons"].show_if_values == (1,)
    assert view.has_errors and view.form_errors == ("top",)


def test_reading_gives_the_answers_submit_response_takes(app, tree, definitions):
    quick = definitions["quick-rating"]
    reading = read_form(quick, _form(rating=1, reasons=[3, 1], reason_text="  Chờ lâu \r\n quá "))
    assert reading.ok
    assert reading.answers == {"rating": 1, "reasons": [1, 3], "reason_text": "Chờ lâu \n quá"}
    result = submit_response(quick_payload(answers=reading.answers), channel="qr_dossier")
    assert result.created


def test_a_required_question_left_out_is_named(definitions):
    reading = read_form(definitions["quick-rating"], _form())
    assert not reading.ok
    assert list(reading.errors) == ["rating"]
    assert "answer this question" in str(reading.errors["rating"][0])


@pytest.mark.parametrize("bad", ["7", "abc", "1.5", "-1", "99999999999"])
def test_a_value_off_the_scale_is_refused_next_to_its_field(definitions, bad):
    reading = read_form(definitions["sipas-counter"], _form(c9_24=bad, c9_25=4))
    assert list(reading.errors) == ["c9_24"]
    assert reading.answers == {"c9_25": 4}


def test_bad_multi_choices_and_long_texts_are_refused(definitions):
    quick = definitions["quick-rating"]
    reading = read_form(quick, _form(rating=1, reasons=[1, 1], reason_text="x" * 501))
    assert set(reading.errors) == {"reasons", "reason_text"}
    assert "500" in str(reading.errors["reason_text"][0])
    assert reading.values["reason_text"] == "x" * 501  # shown again to be shortened


def test_an_answer_to_a_question_not_asked_is_sent_back_not_dropped(definitions):
    """Without JavaScript the reasons and the comment are shown whatever the rating: given after
    a good rating, they come back with a message naming the choice that asks them, never stored
    or dropped in silence."""
    quick = definitions["quick-rating"]
    reading = read_form(quick, _form(rating=3, reasons=[2], reason_text=" chờ lâu "), locale="vi")
    assert not reading.ok
    assert set(reading.errors) == {"reasons", "reason_text"}
    for key in ("reasons", "reason_text"):
        assert "“Không hài lòng”" in str(reading.errors[key][0])
    assert reading.values == {"rating": 3, "reasons": [2], "reason_text": "chờ lâu"}
    english = read_form(quick, _form(rating=3, reason_text="slow"), locale="en")
    assert "“Dissatisfied”" in str(english.errors["reason_text"][0])
    view = build_form(quick, locale="vi", place_name="X", values=reading.values)
    fields = {f.key: f for f in view.sections[0].fields}
    assert [c.value for c in fields["reasons"].choices if c.checked] == [2]  # shown again
    assert fields["reason_text"].text_value == "chờ lâu"


def test_a_conditional_question_says_when_it_is_asked(definitions):
    quick = build_form(definitions["quick-rating"], locale="vi", place_name="X")
    fields = {f.key: f for f in quick.sections[0].fields}
    assert fields["rating"].condition_hint is None
    assert "“Không hài lòng”" in str(fields["reason_text"].condition_hint)
    annual = definitions["sipas-annual"]
    page = next(p for p in annual.pages if "c2_other" in p.questions)
    view = build_form(annual, locale="vi", place_name="X", page_keys=[page.key])
    other = next(f for f in view.sections[0].fields if f.key == "c2_other")
    assert "“Qua hình thức khác" in str(other.condition_hint)


def test_conditions_on_earlier_pages_use_previous_answers(definitions):
    annual = definitions["sipas-annual"]
    page = next(p for p in annual.pages if "c2_other" in p.questions)
    given = _form(c2_other="khác")
    with_previous = read_form(annual, given, page_keys=[page.key], previous={"c2": [7]})
    assert with_previous.answers == {"c2_other": "khác"}
    without = read_form(annual, given, page_keys=[page.key])
    assert without.answers == {} and list(without.errors) == ["c2_other"]
    assert without.values == {"c2_other": "khác"}


def test_kept_answers_are_checked_again_without_asking_for_missing_ones(definitions):
    """A page shown again (after going back with a problem) names each kept answer's problem,
    and only those: a question not answered yet is no problem until the page is sent."""
    annual = definitions["sipas-annual"]
    page = next(p for p in annual.pages if "comment" in p.questions)
    problems = check_kept_answers(annual, {"comment": "x" * 1099, "c1_1": 3}, page_keys=[page.key])
    assert list(problems) == ["comment"] and "1000" in str(problems["comment"][0])
    assert check_kept_answers(annual, {"comment": "ok"}, page_keys=[page.key]) == {}
    quick = definitions["quick-rating"]
    assert check_kept_answers(quick, {}) == {}  # rating is required, but not asked yet


def test_the_error_summary_links_each_message_to_its_field(definitions):
    errors = {"rating": ["Chọn một"], "reason_text": ["Quá dài"]}
    view = build_form(definitions["quick-rating"], locale="vi", place_name="X", errors=errors)
    assert [(link.target, str(link.message)) for link in view.error_links] == [
        ("q-rating-1", "Chọn một"),
        ("q-reason_text-input", "Quá dài"),
    ]
    assert view.error_links[0].question.startswith("Ông/Bà đánh giá")


def test_the_time_a_questionnaire_takes_is_estimated_from_its_texts(definitions):
    """What a citizen is told before starting: reading at 200 words (syllables) a minute and 4
    seconds to choose each answer; the verbatim annual form takes 15 to 20 minutes, the counter
    form 3 to 5, the quick rating well under one."""
    assert estimated_minutes(definitions["sipas-annual"], "vi") in (15, 20)
    assert estimated_minutes(definitions["sipas-counter"], "vi") in range(3, 6)
    assert estimated_minutes(definitions["quick-rating"], "vi") == 1


def test_an_unknown_page_is_a_programming_error(definitions):
    with pytest.raises(KeyError):
        build_form(definitions["quick-rating"], locale="vi", place_name="X", page_keys=["nope"])


def test_service_problems_are_split_per_question():
    per_field, others = errors_from_problems(
        {"answers.c9_24": ["7 is not on the scale"], "unit": ["is no longer active"]}
    )
    assert per_field == {"c9_24": ["7 is not on the scale"]}
    assert others == ["is no longer active"]
