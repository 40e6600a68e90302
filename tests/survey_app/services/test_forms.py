"""The server-rendered questionnaire form: rendering any page of any definition, and reading the
submitted fields back into answers with messages per question."""

import pytest
from werkzeug.datastructures import MultiDict

from survey_app.services.forms import (
    build_form,
    errors_from_problems,
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


def test_a_question_not_asked_is_dropped_silently(definitions):
    """Without JavaScript the reasons are shown even after a good rating: ignore them then."""
    reading = read_form(definitions["quick-rating"], _form(rating=3, reasons=[2], reason_text="a"))
    assert reading.ok
    assert reading.answers == {"rating": 3}


def test_conditions_on_earlier_pages_use_previous_answers(definitions):
    annual = definitions["sipas-annual"]
    page = next(p for p in annual.pages if "c2_other" in p.questions)
    given = _form(c2_other="khác")
    with_previous = read_form(annual, given, page_keys=[page.key], previous={"c2": [7]})
    assert with_previous.answers == {"c2_other": "khác"}
    assert read_form(annual, given, page_keys=[page.key]).answers == {}


def test_an_unknown_page_is_a_programming_error(definitions):
    with pytest.raises(KeyError):
        build_form(definitions["quick-rating"], locale="vi", place_name="X", page_keys=["nope"])


def test_service_problems_are_split_per_question():
    per_field, others = errors_from_problems(
        {"answers.c9_24": ["7 is not on the scale"], "unit": ["is no longer active"]}
    )
    assert per_field == {"c9_24": ["7 is not on the scale"]}
    assert others == ["is no longer active"]
