"""The three shipped questionnaires load, validate and say what sipas.md says they say."""

import ast
import dataclasses
import json
from pathlib import Path

import pytest

import questionnaires
from questionnaires import (
    DEFINITIONS_DIR,
    Condition,
    Definition,
    LocalizedText,
    load_definition,
    load_definitions,
    parse_definition,
)

SHIPPED = ("quick-rating", "sipas-annual", "sipas-counter")

# (key, version) → content_hash of every version ever shipped. A file changed without a new
# version fails here: bump `version`, then add a line (never edit an old one).
PUBLISHED = {
    ("quick-rating", 1): "1f1c29e8eec512cdfb084c01bdb11381f7abf3f70bf7fa84a8074c47ee5dfe36",
    ("sipas-annual", 1): "ed78aa40a2ab0f1dc09f733db3ed4e1b691525f5aa2a1652acab16c4037e6037",
    ("sipas-annual", 2): "d8fc6842895fd5cc2c364dc4754b4d0fda6fbef49f828fba35af83e454683055",
    ("sipas-counter", 1): "ba99d637907ca231ee7a17246421dc9b597fabd242dac8d0c826b23b99c6a9cb",
}


@pytest.fixture(scope="module")
def definitions() -> dict[str, Definition]:
    return load_definitions()


@pytest.fixture(scope="module")
def counter(definitions) -> Definition:
    return definitions["sipas-counter"]


@pytest.fixture(scope="module")
def quick(definitions) -> Definition:
    return definitions["quick-rating"]


@pytest.fixture(scope="module")
def annual(definitions) -> Definition:
    return definitions["sipas-annual"]


def test_the_three_definitions_are_shipped(definitions):
    assert sorted(definitions) == list(SHIPPED)
    assert sorted(p.stem for p in DEFINITIONS_DIR.glob("*.yaml")) == list(SHIPPED)


@pytest.mark.parametrize("key", SHIPPED)
def test_each_file_loads_and_validates(key):
    definition = load_definition(DEFINITIONS_DIR / f"{key}.yaml")
    assert definition.key == key
    assert definition.version >= 1
    assert definition.formula_version == "sipas-2023-provisional"
    assert len(definition.content_hash) == 64


@pytest.mark.parametrize("key", SHIPPED)
def test_a_changed_file_carries_a_new_version(definitions, key):
    definition = definitions[key]
    assert (key, definition.version) in PUBLISHED, "new version: add it to PUBLISHED"
    assert PUBLISHED[key, definition.version] == definition.content_hash, (
        f"{key}.yaml changed under version {definition.version}: "
        "bump its version and add the new hash to PUBLISHED"
    )


@pytest.mark.parametrize("key", SHIPPED)
def test_to_dict_round_trips_through_json(definitions, key):
    definition = definitions[key]
    data = json.loads(json.dumps(definition.to_dict()))
    again = parse_definition(data, source="db")
    assert again == definition
    assert again.content_hash == definition.content_hash


def _texts(definition: Definition):
    """Every LocalizedText in a definition, with where it is."""
    yield "title", definition.title
    if definition.description:
        yield "description", definition.description
    for scale in definition.scales.values():
        for option in scale.options:
            yield f"scales.{scale.key}.{option.value}", option.label
    for q in definition.questions:
        yield q.key, q.text
        if q.note:
            yield f"{q.key}.note", q.note
        if q.type != "scale":
            for option in q.options:
                yield f"{q.key}.{option.value}", option.label
    for item in (
        *definition.factors,
        *definition.contents,
        *([definition.index] if definition.index else []),
    ):
        yield item.key, item.label
    for page in definition.pages:
        yield f"page {page.key}", page.title
        if page.note:
            yield f"page {page.key}.note", page.note


@pytest.mark.parametrize("key", SHIPPED)
def test_every_text_has_vietnamese_and_a_distinct_english_translation(definitions, key):
    for where, text in _texts(definitions[key]):
        assert text.vi.strip() and text.en.strip(), where
        assert text.en.count("[ĐPV]") == text.vi.count("[ĐPV]"), where
    # Numbers and proper names read the same in both languages; everything else is translated.
    same = {where for where, text in _texts(definitions[key]) if text.vi == text.en}
    assert all(w.startswith("age_band.") or w == "ethnicity.1" for w in same), same


# --- sipas-counter -------------------------------------------------------------------------


def test_counter_has_16_items_in_five_factors(counter):
    assert {f.key: len(f.items) for f in counter.factors} == {
        "A": 3,
        "B": 4,
        "C": 3,
        "D": 3,
        "E": 3,
    }
    items = [item for f in counter.factors for item in f.items]
    assert items == [f"c9_{n}" for n in range(24, 40)]
    assert all(
        counter.question(k).type == "scale" and counter.question(k).scale.key == "SAT5"
        for k in items
    )
    assert [q.key for q in counter.questions] == [*items, "overall", "comment"]


def test_counter_scale_is_sat5(counter):
    sat5 = counter.scales["SAT5"]
    assert [(o.value, o.label.vi, o.face) for o in sat5.options] == [
        (1, "Rất không hài lòng", "very_sad"),
        (2, "Không hài lòng", "sad"),
        (3, "Bình thường", "neutral"),
        (4, "Hài lòng", "happy"),
        (5, "Rất hài lòng", "very_happy"),
    ]
    assert sat5.positive == {4, 5}
    assert counter.question("c9_24").positive == {4, 5}
    assert counter.question("c9_24").valid_values() == {1, 2, 3, 4, 5}


def test_counter_texts_are_verbatim(counter):
    assert counter.question("c9_24").text.vi == (
        "[ĐPV] có biển hiệu, hướng dẫn rõ ràng, giúp người dân dễ tìm, dễ thấy."
    )
    assert counter.question("c9_30").text.vi == (
        "Thời hạn giải quyết thủ tục hành chính cho người dân đúng theo quy định."
    )
    assert counter.question("overall").text.vi == (
        "Nhìn chung, Ông/Bà hài lòng như thế nào với sự phục vụ của [ĐPV]?"
    )
    assert counter.question("comment").text.vi == "Ý kiến khác (xin Ông/Bà ghi cụ thể)"
    for key in ("c9_34", "c9_35", "c9_36"):
        q = counter.question(key)
        assert q.text.vi.startswith("Kết quả giải quyết thủ tục hành chính cho người dân ")
        assert q.note.vi == "Kết quả giải quyết TTHC có thể là được cấp giấy tờ hoặc bị từ chối cấp"
    assert [f.label.vi for f in counter.factors] == [
        "Tiếp cận dịch vụ",
        "Thủ tục hành chính",
        "Công chức trực tiếp giải quyết công việc",
        "Kết quả giải quyết thủ tục hành chính",
        "Tiếp nhận, xử lý phản ánh, kiến nghị",
    ]


def test_counter_overall_and_comment(counter):
    assert counter.question("overall").scale.key == "SAT5"
    assert counter.question("overall").key not in {i for f in counter.factors for i in f.items}
    comment = counter.question("comment")
    assert (comment.type, comment.max_length, comment.required) == ("text", 1000, False)
    assert comment.valid_values() == frozenset()


def test_counter_index_is_the_service_content(counter):
    assert [(c.key, c.factors) for c in counter.contents] == [
        ("service", ("A", "B", "C", "D", "E"))
    ]
    assert counter.index.key == "sipas"
    assert dict(counter.index.weights) == {"service": 1.0}
    assert counter.headline == "sipas"


def test_counter_pages_are_one_per_factor_then_overall(counter):
    assert [(p.key, p.questions) for p in counter.pages] == [
        *((f.key, f.items) for f in counter.factors),
        ("overall", ("overall", "comment")),
    ]


# --- quick-rating --------------------------------------------------------------------------


def test_quick_rating(quick):
    sat3 = quick.scales["SAT3"]
    assert [(o.value, o.label.vi) for o in sat3.options] == [
        (1, "Không hài lòng"),
        (2, "Hài lòng"),
        (3, "Rất hài lòng"),
    ]
    assert all(o.face for o in sat3.options)
    assert sat3.positive == {2, 3}
    rating = quick.question("rating")
    assert (rating.type, rating.required, rating.scale) == ("scale", True, sat3)
    assert rating.text.vi == "Ông/Bà đánh giá thế nào về sự phục vụ hôm nay?"
    reasons = quick.question("reasons")
    assert reasons.type == "multi"
    assert reasons.show_if == Condition("rating", frozenset({1}))
    assert len(reasons.options) == 6
    assert reasons.options[-1].label.vi == "Khác"
    reason_text = quick.question("reason_text")
    assert (reason_text.type, reason_text.max_length) == ("text", 500)
    assert reason_text.show_if == reasons.show_if
    assert (quick.factors, quick.contents, quick.index) == ((), (), None)
    assert quick.headline == "rating"
    assert [p.questions for p in quick.pages] == [("rating", "reasons", "reason_text")]


# --- sipas-annual --------------------------------------------------------------------------


def _keys(definition: Definition, prefix: str) -> list[str]:
    return [q.key for q in definition.questions if q.key.startswith(prefix)]


def test_annual_counts(annual):
    # Câu 1 in the printed form's row order; each key keeps its policy (c1_7 is water, row 4).
    assert _keys(annual, "c1_") == [f"c1_{n}" for n in (1, 2, 3, 7, 6, 4, 5, 8, 9)]
    assert _keys(annual, "c2") == ["c2", "c2_other"]
    assert _keys(annual, "c3_") == [f"c3_{n}" for n in range(1, 8)]
    assert _keys(annual, "c7_") == ["c7_1", "c7_2", "c7_3"]
    assert _keys(annual, "c8_") == [f"c8_{n}" for n in range(1, 8)]
    assert _keys(annual, "c9_") == [f"c9_{n:02d}" for n in range(1, 40)]
    assert _keys(annual, "c10_") == [f"c10_{n:02d}" for n in range(1, 11)]
    assert [q.key for q in annual.questions][-7:] == [
        "comment",
        "gender",
        "ethnicity",
        "ethnicity_other",
        "age_band",
        "education",
        "occupation",
    ]
    assert len(annual.questions) == 9 + 2 + 7 + 3 + 3 + 7 + 39 + 10 + 1 + 6


@pytest.mark.parametrize(
    ("prefix", "scale"),
    [
        ("c1_", "INTEREST4"),
        ("c3_", "FIT4"),
        ("c7_", "FIT4"),
        ("c8_", "YESNO"),
        ("c9_", "SAT5"),
        ("c10_", "WANT4"),
    ],
)
def test_annual_scales(annual, prefix, scale):
    assert {annual.question(k).scale.key for k in _keys(annual, prefix)} == {scale}


def test_annual_scale_definitions(annual):
    labels = {name: [o.label.vi for o in s.options] for name, s in annual.scales.items()}
    assert labels["INTEREST4"] == [
        "Không quan tâm theo dõi",
        "Khá quan tâm theo dõi",
        "Quan tâm theo dõi",
        "Rất quan tâm theo dõi",
    ]
    assert labels["FIT4"] == ["Không phù hợp", "Khá phù hợp", "Phù hợp", "Rất phù hợp"]
    assert labels["WANT4"] == ["Không mong muốn", "Khá mong muốn", "Mong muốn", "Rất mong muốn"]
    assert labels["YESNO"] == ["Có", "Không"]
    positive = {name: s.positive for name, s in annual.scales.items()}
    assert positive == {
        "SAT5": {4, 5},
        "INTEREST4": {3, 4},
        "FIT4": {3, 4},
        "WANT4": {3, 4},
        "YESNO": frozenset(),
    }
    assert [o.value for o in annual.scales["WANT4"].options] == [1, 2, 3, 4]


def test_annual_single_and_multi_questions(annual):
    c2 = annual.question("c2")
    assert c2.type == "multi" and len(c2.options) == 7
    assert c2.options[-1].label.vi == "Qua hình thức khác (xin ghi cụ thể):"
    assert annual.question("c2_other").show_if == Condition("c2", frozenset({7}))
    assert annual.question("c4").type == "single" and len(annual.question("c4").options) == 4
    for key in ("c5", "c6"):
        q = annual.question(key)
        assert (q.type, q.positive, len(q.options)) == ("single", {1}, 3)
    assert annual.question("ethnicity_other").show_if == Condition("ethnicity", frozenset({2}))
    assert [o.label.vi for o in annual.question("age_band").options] == [
        "18-24",
        "25-34",
        "35-49",
        "50-60",
        "Trên 60",
    ]
    assert len(annual.question("education").options) == 6
    assert len(annual.question("occupation").options) == 7
    assert annual.question("comment").max_length == 1000


def test_annual_factors_contents_and_index(annual):
    sizes = {f.key: len(f.items) for f in annual.factors}
    assert sizes == {"IA": 2, "IB": 2, "IC": 9, "ID": 10, "A": 3, "B": 4, "C": 3, "D": 3, "E": 3}
    items = [i for f in annual.factors for i in f.items]
    assert items == [f"c9_{n:02d}" for n in range(1, 40)]
    assert annual.factors[0].label.vi == "I.A Trách nhiệm giải trình"
    assert [(c.key, c.factors) for c in annual.contents] == [
        ("policy", ("IA", "IB", "IC", "ID")),
        ("service", ("A", "B", "C", "D", "E")),
    ]
    assert dict(annual.index.weights) == {"policy": 0.5, "service": 0.5}
    assert annual.headline == "sipas"


def test_annual_texts_are_verbatim(annual):
    assert annual.question("c9_02").text.vi == (
        "Chính quyền cung cấp thông tin về các chính sách đầy đủ, dễ hiểu đối với người dân."
    )
    assert annual.question("c9_23").text.vi.startswith(
        "Cơ quan hành chính nhà nước, đội ngũ cán bộ"
    )
    assert annual.question("c10_01").text.vi == (
        "Nâng cao tính công khai, minh bạch trong cung cấp thông tin cho người dân."
    )
    for n in range(5, 14):
        assert annual.question(f"c9_{n:02d}").text.vi.startswith(
            "Chính quyền tổ chức thực hiện tốt chính sách "
        )


# The stems as the 2026 ward form prints them (after "Câu N. "), with its own punctuation.
VERBATIM_STEMS = {
    "cau1": "Xin Ông/Bà cho biết mức độ quan tâm theo dõi của Ông/Bà đối với các chính sách công "
    "trong bảng dưới đây (theo dõi thông qua cả hình thức đọc báo, nghe đài, xem trên ti vi, "
    "trên mạng internet)?",
    "c2": "Trong thời gian qua, Ông/Bà đã sử dụng kênh thông tin nào để theo dõi các chính sách "
    "nêu ở Câu 1? (Chọn nhiều)",
    "cau3": "Ông/Bà đánh giá mức độ phù hợp của các hình thức cơ quan nhà nước cung cấp thông tin "
    "về các chính sách nêu ở Câu 1 đối với bản thân Ông/Bà như thế nào?",
    "c4": "Trong thời gian tới, nếu cơ quan nhà nước tổ chức xin ý kiến người dân về chính sách "
    "nêu ở Câu 1, Ông/Bà có tham gia góp ý kiến không?",
    "c5": "Ông/Bà cảm nhận như thế nào về tình trạng công chức gây phiền hà, sách nhiễu cho người "
    "dân trong quá trình giải quyết thủ tục hành chính hiện nay ở địa phương?",
    "c6": "Ông/Bà suy nghĩ gì về tình trạng người dân phải đưa tiền ngoài quy định nộp phí lệ phí "
    "(hay còn gọi là “tiền bôi trơn”, tiền “đút lót”) cho công chức trong quá trình giải quyết "
    "thủ tục hành chính hiện nay ở địa phương?",
    "cau7": "Ông/Bà đánh giá mức độ phù hợp của các hình thức giải quyết thủ tục hành chính đối "
    "với bản thân Ông/Bà như thế nào?",
    "cau8": "Xin Ông/Bà cho biết trải nghiệm của bản thân Ông/Bà đối với các nội dung trong bảng "
    "dưới đây?",
    "cau9": "Xin Ông/Bà cho biết mức độ hài lòng của Ông/Bà về các nội dung trong bảng bên dưới "
    "đây:",
    "cau10": "Xin Ông/Bà cho biết mức độ mong muốn của Ông/Bà đối với chính quyền địa phương "
    "trong việc cải thiện chất lượng phục vụ người dân trên các nội dung trong bảng dưới đây?",
}


def test_annual_stems_are_verbatim(annual):
    """A page holding rows is titled "Câu N. " and its stem; a one-question page's question is
    the stem itself; no stem is abridged with "…"."""
    titles = {page.key: page.title.vi for page in annual.pages}
    for key, stem in VERBATIM_STEMS.items():
        if key.startswith("cau9"):
            pages = [k for k in titles if k.startswith("cau9")]
            assert {titles[k] for k in pages} == {f"Câu 9. {stem}"}
        elif key.startswith("cau"):
            assert titles[key] == f"Câu {key.removeprefix('cau')}. {stem}", key
        else:
            assert annual.question(key).text.vi == stem, key
    notes = {page.key: page.note for page in annual.pages}
    assert notes["cau1"].vi.startswith("(“Chính sách” ở đây nói đến các quy định")
    texts = [text.vi for _, text in _texts(annual)]
    assert not [t for t in texts if "…" in t]
    assert annual.question("c1_8").text.vi == "Chính sách an sinh, xã hội ở địa phương"
    assert annual.question("c2").options[0].label.vi == "Qua loa phát thanh phường."
    assert annual.question("c5").options[0].label.vi == (
        "Không có công chức nào gây phiền hà, sách nhiễu cho người dân."
    )
    # Item 29 as printed: "đóng phí lệ phí", without a comma, as Câu 6 writes "nộp phí lệ phí".
    assert annual.question("c9_29").text.vi == (
        "Công chức yêu cầu người dân đóng phí lệ phí giải quyết thủ tục hành chính đúng theo "
        "quy định."
    )


def test_annual_pages(annual):
    keys = [p.key for p in annual.pages]
    assert keys[:8] == [f"cau{n}" for n in range(1, 9)]
    assert 3 <= sum(k.startswith("cau9") for k in keys) <= 4
    assert keys[-1] == "demographics"
    assert annual.pages[-1].questions == (
        "gender",
        "ethnicity",
        "ethnicity_other",
        "age_band",
        "education",
        "occupation",
    )


def test_service_items_are_identical_in_counter_and_annual(counter, annual):
    """Câu 9 items 24–39 share keys and wording, so counter and annual figures compare."""
    for n in range(24, 40):
        key = f"c9_{n}"
        assert counter.question(key) == annual.question(key), key
    assert counter.factors == annual.factors[-5:]
    assert counter.contents[0] == annual.contents[1]
    assert counter.scales["SAT5"] == annual.scales["SAT5"]


# --- the objects the app gets --------------------------------------------------------------


def test_pages_cover_every_question_once_in_order(definitions):
    for definition in definitions.values():
        on_pages = [k for page in definition.pages for k in page.questions]
        assert on_pages == [q.key for q in definition.questions]


def test_question_lookup_names_the_questionnaire(counter):
    assert counter.question("overall").key == "overall"
    with pytest.raises(KeyError, match=r"sipas-counter v1 has no question 'c9_01'"):
        counter.question("c9_01")


def test_definition_is_immutable(counter):
    with pytest.raises(dataclasses.FrozenInstanceError):
        counter.version = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        counter.scales["SAT6"] = counter.scales["SAT5"]  # type: ignore[index]
    with pytest.raises(TypeError):
        counter.index.weights["service"] = 0.5  # type: ignore[index]
    data = counter.to_dict()
    data["version"] = 99
    assert counter.to_dict()["version"] == 1


def test_localized_text_falls_back_to_vietnamese():
    text = LocalizedText(vi="Hài lòng", en="Satisfied")
    assert text.get("en") == text.get("en-GB") == text.get("EN_us") == "Satisfied"
    assert text.get("vi") == text.get("fr") == text.get("") == text.get(None) == "Hài lòng"


def test_condition_matches_single_and_multi_answers():
    condition = Condition("c2", frozenset({7}))
    assert condition.matches(7)
    assert not condition.matches(1)
    assert condition.matches([1, 7])
    assert not condition.matches([1, 2])
    assert not condition.matches([])
    assert not condition.matches(None)
    assert not condition.matches(True)  # a bool is not an answer value


def test_questionnaires_imports_nothing_of_the_app():
    """The loader is pure: the app imports it, never the other way round."""
    forbidden = {"flask", "sqlalchemy", "survey_app", "flask_sqlalchemy", "analytics"}
    package = Path(questionnaires.__file__).parent
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not {n.split(".")[0] for n in names} & forbidden, (path.name, names)


def test_importing_reads_no_definition():
    """Importing must stay cheap and side-effect free: definitions are read when asked for."""
    import subprocess
    import sys

    code = (
        "import pathlib\n"
        "read = pathlib.Path.read_bytes\n"
        "def guarded(self):\n"
        "    assert self.suffix != '.yaml', f'read {self} at import'\n"
        "    return read(self)\n"
        "pathlib.Path.read_bytes = guarded\n"
        "import yaml\n"
        "yaml.load = yaml.safe_load = None\n"
        "import questionnaires\n"
        "assert questionnaires.DEFINITIONS_DIR.name == 'definitions'\n"
    )
    root = Path(questionnaires.__file__).parent.parent
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)
