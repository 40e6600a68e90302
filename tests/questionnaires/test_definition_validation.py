"""Bad definitions are refused, each with a message naming the file and the field."""

import copy
import pickle
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest

from questionnaires import (
    DefinitionError,
    load_definition,
    load_definitions,
    parse_definition,
    parse_definition_yaml,
)


def t(vi: str, en: str | None = None) -> dict[str, str]:
    return {"vi": vi, "en": en if en is not None else f"EN {vi}"}


def minimal() -> dict[str, Any]:
    """A small valid definition touching every feature; each test breaks one thing in it."""
    sat5 = [{"value": v, "label": t(f"Mức {v}")} for v in range(1, 6)]
    return {
        "key": "test-form",
        "version": 1,
        "title": t("Phiếu thử"),
        "formula_version": "test-1",
        "scales": {
            "SAT5": {"options": sat5, "positive": [4, 5]},
            "YESNO": {
                "options": [{"value": 1, "label": t("Có")}, {"value": 2, "label": t("Không")}],
                "positive": [],
            },
        },
        "questions": [
            {
                "key": "q1",
                "type": "scale",
                "scale": "SAT5",
                "text": t("[ĐPV] sạch sẽ.", "[ĐPV] is clean."),
            },
            {"key": "q2", "type": "scale", "scale": "SAT5", "text": t("Câu 2")},
            {
                "key": "q3",
                "type": "single",
                "text": t("Câu 3"),
                "options": [{"value": 1, "label": t("Một")}, {"value": 2, "label": t("Hai")}],
                "positive": [1],
            },
            {
                "key": "q4",
                "type": "multi",
                "text": t("Câu 4"),
                "options": [
                    {"value": 1, "label": t("A")},
                    {"value": 2, "label": t("B")},
                    {"value": 3, "label": t("C")},
                ],
                "show_if": {"question": "q1", "values": [1, 2]},
            },
            {
                "key": "q5",
                "type": "text",
                "text": t("Ý kiến khác"),
                "max_length": 1000,
                "show_if": {"question": "q4", "values": [3]},
            },
            {"key": "q6", "type": "scale", "scale": "YESNO", "text": t("Câu 6")},
        ],
        "factors": [
            {"key": "F1", "label": t("Yếu tố 1"), "items": ["q1"]},
            {"key": "F2", "label": t("Yếu tố 2"), "items": ["q2"]},
        ],
        "contents": [{"key": "C1", "label": t("Nội dung 1"), "factors": ["F1", "F2"]}],
        "index": {"key": "idx", "label": t("Chỉ số"), "weights": {"C1": 1.0}},
        "headline": "idx",
        "pages": [
            {"key": "p1", "title": t("Trang 1"), "questions": ["q1", "q2"]},
            {"key": "p2", "title": t("Trang 2"), "questions": ["q3", "q4", "q5", "q6"]},
        ],
    }


def refused(data: Any, source: str = "test-form.yaml") -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        parse_definition(data, source)
    return caught.value


def test_minimal_definition_is_valid():
    definition = parse_definition(minimal())
    assert definition.key == "test-form"
    assert [q.key for q in definition.questions] == ["q1", "q2", "q3", "q4", "q5", "q6"]


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """A mutation setting a dotted path ("questions.0.scale") to `value`."""

    def mutate(data: dict) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict], None]:
    def mutate(data: dict) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        del node[int(last) if isinstance(node, list) else last]

    return mutate


def _both(*mutations: Callable[[dict], None]) -> Callable[[dict], None]:
    def mutate(data: dict) -> None:
        for m in mutations:
            m(data)

    return mutate


def _duplicate_first_question(data: dict) -> None:
    data["questions"][1]["key"] = "q1"


def _swap_pages_order(data: dict) -> None:
    data["pages"][0]["questions"] = ["q2", "q1"]


def _move_show_if_target_later(data: dict) -> None:
    data["questions"][3]["show_if"] = {"question": "q6", "values": [1]}


CASES: list[tuple[str, Callable[[dict], None], str]] = [
    # scales and questions
    (
        "unknown scale",
        _set("questions.0.scale", "SAT6"),
        "questions[0].scale: unknown scale 'SAT6' (known: SAT5, YESNO)",
    ),
    (
        "scale missing",
        _delete("questions.0.scale"),
        "questions[0].scale: required for a scale question",
    ),
    (
        "duplicate question key",
        _duplicate_first_question,
        "questions[1].key: duplicate question key 'q1' (also questions[0])",
    ),
    (
        "scale positive not on scale",
        _set("scales.SAT5.positive", [4, 6]),
        "scales.SAT5.positive: 6 is not a value of the scale (values: 1, 2, 3, 4, 5)",
    ),
    (
        "single positive not an option",
        _set("questions.2.positive", [3]),
        "questions[2].positive: 3 is not an option (options: 1, 2)",
    ),
    (
        "duplicate option value",
        _set(
            "questions.2.options",
            [{"value": 1, "label": t("Một")}, {"value": 1, "label": t("Hai")}],
        ),
        "questions[2].options[1].value: duplicate value 1",
    ),
    (
        "duplicate scale value",
        _set(
            "scales.YESNO.options",
            [{"value": 1, "label": t("Có")}, {"value": 1, "label": t("Không")}],
        ),
        "scales.YESNO.options[1].value: duplicate value 1",
    ),
    (
        "single without options",
        _delete("questions.2.options"),
        "questions[2].options: required for a single question",
    ),
    (
        "single with one option",
        _set("questions.2.options", [{"value": 1, "label": t("Một")}]),
        "questions[2].options: needs at least 2 options",
    ),
    (
        "scale question with own options",
        _set("questions.0.options", [{"value": 1, "label": t("x")}, {"value": 2, "label": t("y")}]),
        "questions[0].options: not allowed for a scale question (the scale's options are used)",
    ),
    (
        "multi with positive",
        _set("questions.3.positive", [1]),
        "questions[3].positive: not allowed for a multi question (only scale and single questions count positive answers)",
    ),
    (
        "text question with a scale",
        _set("questions.4.scale", "SAT5"),
        "questions[4].scale: not allowed for a text question (only scale questions use a scale)",
    ),
    (
        "unknown question type",
        _set("questions.1.type", "slider"),
        "questions[1].type: input should be 'scale', 'single', 'multi' or 'text' (got 'slider')",
    ),
    (
        "unknown face",
        _set("scales.SAT5.options.0.face", "angry"),
        "scales.SAT5.options[0].face: unknown face 'angry' (known: very_sad, sad, neutral, happy, very_happy)",
    ),
    (
        "option value not an int",
        _set("questions.2.options.0.value", "1"),
        "questions[2].options[0].value: input should be a valid integer (got '1')",
    ),
    (
        "required not a bool",
        _set("questions.1.required", "yes"),
        "questions[1].required: input should be a valid boolean (got 'yes')",
    ),
    # text questions
    (
        "text max_length missing",
        _delete("questions.4.max_length"),
        "questions[4].max_length: required for a text question (1..5000)",
    ),
    (
        "text max_length too large",
        _set("questions.4.max_length", 5001),
        "questions[4].max_length: must be between 1 and 5000 (got 5001)",
    ),
    (
        "text max_length zero",
        _set("questions.4.max_length", 0),
        "questions[4].max_length: must be between 1 and 5000 (got 0)",
    ),
    # show_if
    (
        "show_if later question",
        _move_show_if_target_later,
        "questions[3].show_if.question: 'q6' comes later; show_if may only refer to an earlier question",
    ),
    (
        "show_if unknown question",
        _set("questions.3.show_if.question", "q9"),
        "questions[3].show_if.question: unknown question 'q9'",
    ),
    (
        "show_if itself",
        _set("questions.3.show_if.question", "q4"),
        "questions[3].show_if.question: refers to the question itself",
    ),
    (
        "show_if value not an option",
        _set("questions.3.show_if.values", [1, 7]),
        "questions[3].show_if.values: 7 is not a value of 'q1' (values: 1, 2, 3, 4, 5)",
    ),
    (
        "show_if on a text question",
        _set("questions.5.show_if", {"question": "q5", "values": [1]}),
        "questions[5].show_if.question: 'q5' is a text question; show_if needs a question with options",
    ),
    (
        "show_if without values",
        _set("questions.3.show_if.values", []),
        "questions[3].show_if.values: list should have at least 1 item after validation, not 0",
    ),
    # factors, contents, index
    (
        "factor item not a scale question",
        _set("factors.0.items", ["q3"]),
        "factors[0].items[0]: 'q3' is a single question; factor items must be scale questions",
    ),
    (
        "factor item unknown",
        _set("factors.0.items", ["q1", "qx"]),
        "factors[0].items[1]: unknown question 'qx'",
    ),
    (
        "factor item without positive values",
        _set("factors.0.items", ["q1", "q6"]),
        "factors[0].items[1]: 'q6' uses scale 'YESNO', which has no positive values; factor items need them to count satisfaction",
    ),
    (
        "factor item in two factors",
        _set("factors.1.items", ["q2", "q1"]),
        "factors[1].items[1]: 'q1' is already in factor 'F1'",
    ),
    (
        "content with unknown factor",
        _set("contents.0.factors", ["F1", "F3"]),
        "contents[0].factors[1]: unknown factor 'F3' (known: F1, F2)",
    ),
    (
        "factor in two contents",
        _set(
            "contents",
            [
                {"key": "C1", "label": t("a"), "factors": ["F1", "F2"]},
                {"key": "C2", "label": t("b"), "factors": ["F2"]},
            ],
        ),
        "contents[1].factors[0]: 'F2' is already in content 'C1'",
    ),
    (
        "content key equal to a factor key",
        _set("contents.0.key", "F1"),
        "contents[0].key: duplicate key 'F1' (already a factor key)",
    ),
    (
        "weights not summing to 1",
        _set("index.weights", {"C1": 0.9}),
        "index.weights: must sum to 1 (they sum to 0.9)",
    ),
    (
        "weight for unknown content",
        _set("index.weights", {"C1": 0.5, "C9": 0.5}),
        "index.weights.C9: unknown content 'C9' (known: C1)",
    ),
    (
        "weight not finite",
        _set("index.weights", {"C1": float("nan")}),
        "index.weights.C1: input should be a finite number (got nan)",
    ),
    (
        "negative weight",
        _set("index.weights", {"C1": 1.5, "C2": -0.5}),
        "index.weights.C2: must be > 0 and <= 1 (got -0.5)",
    ),
    (
        "index key equal to a question key",
        _both(_set("index.key", "q1"), _set("headline", "q1")),
        "index.key: 'q1' is also a question key",
    ),
    # headline
    (
        "headline unknown",
        _set("headline", "nope"),
        "headline: unknown 'nope' (expected the index key 'idx' or a question key)",
    ),
    (
        "headline on a text question",
        _set("headline", "q5"),
        "headline: question 'q5' has no positive values, so it has no share to show",
    ),
    # pages
    (
        "page missing a question",
        _set("pages.1.questions", ["q3", "q4", "q5"]),
        "pages: question on no page: q6",
    ),
    (
        "question on two pages",
        _set("pages.1.questions", ["q2", "q3", "q4", "q5", "q6"]),
        "pages[1].questions[0]: 'q2' is already on page 'p1'",
    ),
    (
        "page with unknown question",
        _set("pages.1.questions", ["q3", "q4", "q5", "q6", "q7"]),
        "pages[1].questions[4]: unknown question 'q7'",
    ),
    (
        "pages out of order",
        _swap_pages_order,
        "pages[0].questions[1]: 'q1' is out of order (pages must list the questions in the order of `questions`)",
    ),
    (
        "duplicate page key",
        _set("pages.1.key", "p1"),
        "pages[1].key: duplicate page key 'p1' (also pages[0])",
    ),
    (
        "empty page",
        _set("pages.1.questions", []),
        "pages[1].questions: list should have at least 1 item after validation, not 0",
    ),
    # texts
    ("missing English title", _delete("title.en"), "title.en: missing (required)"),
    (
        "missing English question text",
        _delete("questions.1.text.en"),
        "questions[1].text.en: missing (required)",
    ),
    (
        "missing English option label",
        _delete("scales.SAT5.options.2.label.en"),
        "scales.SAT5.options[2].label.en: missing (required)",
    ),
    (
        "blank English text",
        _set("questions.1.text.en", "   "),
        "questions[1].text.en: must not be blank (got '   ')",
    ),
    (
        "text not a mapping",
        _set("questions.1.text", "Câu 2"),
        "questions[1].text: input should be a valid dictionary or instance of LocalizedTextDoc (got 'Câu 2')",
    ),
    (
        "English lost the template token",
        _set("questions.0.text", t("[ĐPV] sạch sẽ.", "The office is clean.")),
        "questions[0].text: the English text must keep the Vietnamese text's template tokens as they are (vi: [ĐPV]; en: none)",
    ),
    (
        "unknown template token",
        _set("questions.0.text", t("[DPV] sạch sẽ.", "[DPV] is clean.")),
        "questions[0].text: unknown template token [DPV] (known: [ĐPV])",
    ),
    (
        "text too long",
        _set("questions.1.text.vi", "x" * 5001),
        "questions[1].text.vi: string should have at most 5000 characters",
    ),
    # top level
    ("version zero", _set("version", 0), "version: must be a positive integer (got 0)"),
    ("version negative", _set("version", -3), "version: must be a positive integer (got -3)"),
    ("version a string", _set("version", "2"), "version: must be a positive integer (got '2')"),
    ("version a bool", _set("version", True), "version: must be a positive integer (got True)"),
    ("version a float", _set("version", 1.0), "version: must be a positive integer (got 1.0)"),
    ("version missing", _delete("version"), "version: missing (required)"),
    ("unknown top-level field", _set("author", "me"), "author: unknown field"),
    (
        "unknown question field",
        _set("questions.0.hint", t("x")),
        "questions[0].hint: unknown field",
    ),
    (
        "bad question key",
        _set("questions.1.key", "2nd question"),
        "questions[1].key: '2nd question' is not a valid key (a letter, then letters, digits or _; at most 64 characters)",
    ),
    (
        "bad definition key",
        _set("key", "Test_Form"),
        "key: 'Test_Form' is not a valid questionnaire key (lower-case letters and digits, single hyphens between, like 'sipas-counter'; at most 64 characters)",
    ),
    (
        "bad scale key",
        _set("scales.S 5", {"options": [], "positive": []}),
        "scales.S 5 (key): 'S 5' is not a valid key (a letter, then letters, digits or _; at most 64 characters)",
    ),
    (
        "no questions",
        _set("questions", []),
        "questions: list should have at least 1 item after validation, not 0",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_definition_is_refused_with_a_precise_message(mutate, expected):
    data = copy.deepcopy(minimal())
    mutate(data)
    error = refused(data)
    assert error.source == "test-form.yaml"
    assert expected in error.problems, "\n".join(error.problems)
    assert f"test-form.yaml: {expected}" in str(error).splitlines()


def test_every_problem_is_reported_at_once():
    data = minimal()
    data["questions"][0]["scale"] = "SAT6"
    data["questions"][4]["max_length"] = 9000
    data["index"]["weights"] = {"C1": 0.3}
    error = refused(data)
    assert error.problems == [
        "questions[0].scale: unknown scale 'SAT6' (known: SAT5, YESNO)",
        "questions[4].max_length: must be between 1 and 5000 (got 9000)",
        "index.weights: must sum to 1 (they sum to 0.3)",
    ]
    assert str(error).splitlines() == [f"test-form.yaml: {p}" for p in error.problems]


def test_shape_errors_are_all_reported_together():
    data = minimal()
    data["version"] = 0
    del data["title"]["en"]
    data["colour"] = "blue"
    assert sorted(refused(data).problems) == [
        "colour: unknown field",
        "title.en: missing (required)",
        "version: must be a positive integer (got 0)",
    ]


def test_weights_within_tolerance_are_accepted():
    data = minimal()
    data["questions"].insert(
        2, {"key": "q2b", "type": "scale", "scale": "SAT5", "text": t("Câu 2b")}
    )
    data["pages"][0]["questions"].append("q2b")
    data["factors"].append({"key": "F3", "label": t("Yếu tố 3"), "items": ["q2b"]})
    data["contents"] = [
        {"key": f"C{i}", "label": t(f"Nội dung {i}"), "factors": [f"F{i}"]} for i in (1, 2, 3)
    ]
    # thirds typed as decimals sum to 1 only within the tolerance (1e-9)
    data["index"]["weights"] = {"C1": 0.333333333333, "C2": 0.333333333333, "C3": 0.333333333334}
    assert parse_definition(data).index.weights["C3"] == 0.333333333334
    data["index"]["weights"] = {"C1": 0.3333, "C2": 0.3333, "C3": 0.3333}
    assert refused(data).problems == ["index.weights: must sum to 1 (they sum to 0.9999)"]


def test_int_weights_are_accepted_and_stored_as_floats():
    data = minimal()
    data["index"]["weights"] = {"C1": 1}
    assert parse_definition(data).to_dict()["index"]["weights"] == {"C1": 1.0}


def test_definitions_without_index_headline_a_question():
    data = minimal()
    del data["index"]
    data["headline"] = "q3"  # a single question with declared positive values
    assert parse_definition(data).index is None
    data["headline"] = "idx"
    assert refused(data).problems == ["headline: unknown 'idx' (expected a question key)"]


@pytest.mark.parametrize(
    ("value", "got"),
    [([1, 2], "list"), ("key: x", "str"), (42, "int"), (None, "nothing (the document is empty)")],
)
def test_a_document_that_is_not_a_mapping_is_refused(value, got):
    assert refused(value).problems == [f"<root>: a definition must be a mapping, got {got}"]


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(
        "key: broken\nversion: 1\ntitle: {vi: 'a', en: 'b'\nheadline: x\n", encoding="utf-8"
    )
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    assert caught.value.source == "broken.yaml"
    [problem] = caught.value.problems
    assert problem.startswith("yaml: ")
    assert "(line 4, column" in problem


def test_yaml_that_is_a_list_is_refused(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- key: list\n- version: 1\n", encoding="utf-8")
    with pytest.raises(
        DefinitionError, match=r"list\.yaml: <root>: a definition must be a mapping, got list"
    ):
        load_definition(path)


def test_empty_yaml_is_refused():
    with pytest.raises(DefinitionError, match="got nothing"):
        parse_definition_yaml("# nothing\n")


def test_duplicate_yaml_keys_are_refused():
    with pytest.raises(DefinitionError) as caught:
        parse_definition_yaml("key: a\nversion: 1\nversion: 2\n", "dup.yaml")
    assert caught.value.problems == [
        "yaml: while reading a mapping: duplicate key 'version' (line 3, column 1)"
    ]


def test_yaml_aliases_are_refused():
    text = "key: a\nversion: 1\ntitle: &t {vi: a, en: b}\ndescription: *t\n"
    with pytest.raises(DefinitionError) as caught:
        parse_definition_yaml(text, "alias.yaml")
    assert caught.value.problems == [
        "yaml: aliases (*name) are not allowed in a definition (line 4, column 14)"
    ]


def test_yaml_python_tags_are_refused():
    with pytest.raises(DefinitionError, match="yaml: could not determine a constructor"):
        parse_definition_yaml("key: !!python/object/apply:os.system ['true']\n")


def test_huge_yaml_is_refused_before_parsing():
    with pytest.raises(DefinitionError, match="<root>: larger than 1000000 bytes"):
        parse_definition_yaml("#" * 1_000_001)


def test_non_utf8_file_is_refused(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes("key: phiếu\n".encode("cp1258", errors="replace") + b"\xff\xfe")
    with pytest.raises(DefinitionError, match=r"latin\.yaml: <root>: not UTF-8 text"):
        load_definition(path)


def test_key_must_match_the_file_name(tmp_path):
    import yaml

    (tmp_path / "other-name.yaml").write_text(
        yaml.safe_dump(minimal(), allow_unicode=True), encoding="utf-8"
    )
    with pytest.raises(DefinitionError) as caught:
        load_definitions(tmp_path)
    assert caught.value.source == "other-name.yaml"
    assert caught.value.problems == [
        "key: 'test-form' does not match the file name (expected 'other-name')"
    ]


def test_load_definitions_reads_a_directory(tmp_path):
    import yaml

    (tmp_path / "test-form.yaml").write_text(
        yaml.safe_dump(minimal(), allow_unicode=True), encoding="utf-8"
    )
    (tmp_path / "notes.txt").write_text("not a definition", encoding="utf-8")
    assert list(load_definitions(tmp_path)) == ["test-form"]


def test_yaml_file_with_bom_loads(tmp_path):
    import yaml

    path = tmp_path / "test-form.yaml"
    path.write_bytes(
        b"\xef\xbb\xbf" + yaml.safe_dump(minimal(), allow_unicode=True).encode("utf-8")
    )
    assert load_definition(path).key == "test-form"


def test_default_source_is_memory():
    data = minimal()
    data["version"] = 0
    with pytest.raises(DefinitionError) as caught:
        parse_definition(data)
    assert caught.value.source == "<memory>"
    assert str(caught.value) == "<memory>: version: must be a positive integer (got 0)"


def test_definition_error_is_a_value_error_and_pickles():
    error = refused({"key": "x"})
    assert isinstance(error, ValueError)
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.source, clone.problems, str(clone)) == (error.source, error.problems, str(error))


def test_long_refused_values_are_not_echoed_whole():
    data = minimal()
    data["questions"][1]["type"] = "x" * 10_000
    [problem] = refused(data).problems
    assert len(problem) < 200


def test_vietnamese_text_is_stored_composed():
    data = minimal()
    data["title"]["vi"] = unicodedata.normalize("NFD", "Phiếu khảo sát")
    definition = parse_definition(data)
    assert definition.title.vi == unicodedata.normalize("NFC", "Phiếu khảo sát")
    composed = minimal()
    composed["title"]["vi"] = unicodedata.normalize("NFC", "Phiếu khảo sát")
    assert definition.content_hash == parse_definition(composed).content_hash


def test_a_non_dict_mapping_is_accepted():
    from types import MappingProxyType

    assert parse_definition(MappingProxyType(minimal())).key == "test-form"


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("q7", True),
        ("Q_1", True),
        ("a" * 64, True),
        ("q1\n", False),
        ("1q", False),
        ("q-1", False),
        ("a" * 65, False),
        ("", False),
    ],
)
def test_question_key_shape(key, valid):
    data = minimal()
    data["questions"][5]["key"] = key
    data["pages"][1]["questions"][3] = key
    if valid:
        assert parse_definition(data).questions[5].key == key
    else:
        assert any(p.startswith("questions[5].key: ") for p in refused(data).problems)
