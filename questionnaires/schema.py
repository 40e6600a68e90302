"""The definition file format, checked in two passes.

Pass 1 (pydantic, strict) checks the shape: field names, types, lengths. Pass 2
(`check_references`) checks what one field says about another: scales, keys, factors, pages,
conditions. Definitions can be uploaded by an admin, so nothing here trusts its input: no type
coercion, unknown fields refused, sizes capped.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Annotated, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from questionnaires.model import QuestionType
from questionnaires.text import describe_unsafe_character

KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
DEFINITION_KEY_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_DEFINITION_KEY_LENGTH = 64  # the length of questionnaires.key in the database
MAX_TEXT_LENGTH = 5000  # for every label, and the upper bound of a text question's max_length
MAX_QUESTIONS = 500
MAX_OPTIONS = 100
WEIGHT_TOLERANCE = 1e-9
# Placeholders the app fills in per unit ("[ĐPV]" = the service point's name). A typo or a
# translated token would be shown to citizens as is, so only these are accepted.
TEMPLATE_TOKENS = frozenset({"ĐPV"})
_TOKEN_RE = re.compile(r"\[([^\[\]]*)\]")


# The validation context's key saying that the definition is read back from the database: it
# was checked when it was loaded, and a text rule made stricter since must not make a stored
# version unreadable (every page and export that uses it would fail).
STORED = "stored"


def _nfc(text: str, info: ValidationInfo) -> str:
    # Vietnamese typed on different systems arrives composed or decomposed; store one form so the
    # content hash and text comparisons do not depend on the keyboard.
    text = unicodedata.normalize("NFC", text)
    if not text.strip():
        raise ValueError("must not be blank")
    # Controls and bidi overrides are invisible to the person checking the text, PostgreSQL's
    # jsonb refuses NUL, and XLSX cannot carry controls; a label may hold line breaks and tabs.
    _check_characters(text, info, multiline=True)
    return text


def _single_line(text: str, info: ValidationInfo) -> str:
    _check_characters(text, info, multiline=False)
    return text


def _check_characters(text: str, info: ValidationInfo, *, multiline: bool) -> None:
    if not (info.context or {}).get(STORED):
        problem = describe_unsafe_character(text, multiline=multiline)
        if problem is not None:
            raise ValueError(problem)


Key = Annotated[str, StringConstraints(pattern=f"^{KEY_RE.pattern}$")]
DefinitionKey = Annotated[
    str,
    StringConstraints(
        max_length=MAX_DEFINITION_KEY_LENGTH, pattern=f"^{DEFINITION_KEY_RE.pattern}$"
    ),
]
Text = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TEXT_LENGTH), AfterValidator(_nfc)
]
# Kiosk buttons draw these; an unknown name would leave a button blank.
Face = Literal["very_sad", "sad", "neutral", "happy", "very_happy"]
FACES: tuple[str, ...] = get_args(Face)


class _Doc(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class LocalizedTextDoc(_Doc):
    vi: Text
    en: Text

    @model_validator(mode="after")
    def _same_tokens(self) -> LocalizedTextDoc:
        vi_tokens = set(_TOKEN_RE.findall(self.vi))
        en_tokens = set(_TOKEN_RE.findall(self.en))
        unknown = sorted((vi_tokens | en_tokens) - TEMPLATE_TOKENS)
        if unknown:
            raise ValueError(
                f"unknown template token {_tokens(unknown)} "
                f"(known: {_tokens(sorted(TEMPLATE_TOKENS))})"
            )
        if vi_tokens != en_tokens:
            raise ValueError(
                "the English text must keep the Vietnamese text's template tokens as they are "
                f"(vi: {_tokens(sorted(vi_tokens)) or 'none'}; "
                f"en: {_tokens(sorted(en_tokens)) or 'none'})"
            )
        return self


def _tokens(names: Iterable[str]) -> str:
    return ", ".join(f"[{name}]" for name in names)


class OptionDoc(_Doc):
    value: int
    label: LocalizedTextDoc
    face: Face | None = None


class ScaleDoc(_Doc):
    options: list[OptionDoc] = Field(min_length=2, max_length=MAX_OPTIONS)
    positive: list[int] = Field(max_length=MAX_OPTIONS)


class ConditionDoc(_Doc):
    question: Key
    values: list[int] = Field(min_length=1, max_length=MAX_OPTIONS)


class QuestionDoc(_Doc):
    key: Key
    type: QuestionType
    text: LocalizedTextDoc
    note: LocalizedTextDoc | None = None
    required: bool = False
    scale: Key | None = None
    options: list[OptionDoc] | None = Field(default=None, max_length=MAX_OPTIONS)
    positive: list[int] | None = Field(default=None, max_length=MAX_OPTIONS)
    max_length: int | None = None
    show_if: ConditionDoc | None = None


class FactorDoc(_Doc):
    key: Key
    label: LocalizedTextDoc
    items: list[Key] = Field(min_length=1, max_length=MAX_QUESTIONS)


class ContentDoc(_Doc):
    key: Key
    label: LocalizedTextDoc
    factors: list[Key] = Field(min_length=1, max_length=MAX_QUESTIONS)


class IndexDoc(_Doc):
    key: Key
    label: LocalizedTextDoc
    weights: dict[Key, Annotated[float, Field(allow_inf_nan=False)]] = Field(min_length=1)


class PageDoc(_Doc):
    key: Key
    title: LocalizedTextDoc
    note: LocalizedTextDoc | None = None
    questions: list[Key] = Field(min_length=1, max_length=MAX_QUESTIONS)


class DefinitionDoc(_Doc):
    """A definition file exactly as written, shape-checked."""

    key: DefinitionKey
    version: int = Field(gt=0)
    title: LocalizedTextDoc
    description: LocalizedTextDoc | None = None
    formula_version: Annotated[
        str, StringConstraints(min_length=1, max_length=64), AfterValidator(_single_line)
    ]
    scales: dict[Key, ScaleDoc] = Field(default_factory=dict, max_length=MAX_OPTIONS)
    questions: list[QuestionDoc] = Field(min_length=1, max_length=MAX_QUESTIONS)
    factors: list[FactorDoc] = Field(default_factory=list, max_length=MAX_QUESTIONS)
    contents: list[ContentDoc] = Field(default_factory=list, max_length=MAX_QUESTIONS)
    index: IndexDoc | None = None
    headline: Key
    pages: list[PageDoc] = Field(min_length=1, max_length=MAX_QUESTIONS)


def _values(values: Iterable[int]) -> str:
    return ", ".join(str(v) for v in values)


def _keys(keys: Iterable[str]) -> str:
    return ", ".join(keys) or "none"


def _duplicate_values(options: list[OptionDoc], path: str) -> list[str]:
    seen: set[int] = set()
    problems = []
    for j, option in enumerate(options):
        if option.value in seen:
            problems.append(f"{path}[{j}].value: duplicate value {option.value}")
        seen.add(option.value)
    return problems


def check_references(doc: DefinitionDoc) -> list[str]:
    """Every cross-field problem of a shape-valid definition, as "field.path: message"."""
    problems: list[str] = []

    for name, scale in doc.scales.items():
        problems += _duplicate_values(scale.options, f"scales.{name}.options")
        values = [option.value for option in scale.options]
        for value in dict.fromkeys(scale.positive):
            if value not in values:
                problems.append(
                    f"scales.{name}.positive: {value} is not a value of the scale "
                    f"(values: {_values(values)})"
                )

    position: dict[str, int] = {}
    valid: dict[str, list[int]] = {}  # question key -> its option values
    positive: dict[str, bool] = {}  # question key -> whether it has positive values
    for i, q in enumerate(doc.questions):
        path = f"questions[{i}]"
        if q.key in position:
            problems.append(
                f"{path}.key: duplicate question key {q.key!r} (also questions[{position[q.key]}])"
            )
        else:
            position[q.key] = i
        problems += _check_question_fields(doc, q, path)

        if q.show_if is not None:
            problems += _check_condition(q, path, position, valid, doc)

        if q.key not in valid:
            if q.type == "scale":
                scale = doc.scales.get(q.scale or "")
                valid[q.key] = [o.value for o in scale.options] if scale else []
                positive[q.key] = bool(scale and scale.positive)
            elif q.type in ("single", "multi"):
                valid[q.key] = [o.value for o in q.options or []]
                positive[q.key] = bool(q.positive)

    figure_keys: dict[
        str, str
    ] = {}  # factor, content and index keys share one namespace in reports

    def claim(key: str, kind: str, path: str) -> None:
        if key in figure_keys:
            problems.append(f"{path}: duplicate key {key!r} (already a {figure_keys[key]} key)")
        else:
            figure_keys[key] = kind

    factor_of: dict[str, str] = {}
    factor_keys: list[str] = []
    for i, factor in enumerate(doc.factors):
        claim(factor.key, "factor", f"factors[{i}].key")
        factor_keys.append(factor.key)
        for j, item in enumerate(factor.items):
            problems += _check_factor_item(doc, item, f"factors[{i}].items[{j}]", position)
            if item in factor_of:
                problems.append(
                    f"factors[{i}].items[{j}]: {item!r} is already in factor {factor_of[item]!r}"
                )
            else:
                factor_of[item] = factor.key

    content_of: dict[str, str] = {}
    content_keys: list[str] = []
    for i, content in enumerate(doc.contents):
        claim(content.key, "content", f"contents[{i}].key")
        content_keys.append(content.key)
        for j, factor_key in enumerate(content.factors):
            path = f"contents[{i}].factors[{j}]"
            if factor_key not in factor_keys:
                problems.append(
                    f"{path}: unknown factor {factor_key!r} (known: {_keys(factor_keys)})"
                )
            elif factor_key in content_of:
                problems.append(
                    f"{path}: {factor_key!r} is already in content {content_of[factor_key]!r}"
                )
            else:
                content_of[factor_key] = content.key

    if doc.index is not None:
        claim(doc.index.key, "index", "index.key")
        if doc.index.key in position:
            problems.append(f"index.key: {doc.index.key!r} is also a question key")
        for name, weight in doc.index.weights.items():
            if name not in content_keys:
                problems.append(
                    f"index.weights.{name}: unknown content {name!r} (known: {_keys(content_keys)})"
                )
            if not 0 < weight <= 1:
                problems.append(f"index.weights.{name}: must be > 0 and <= 1 (got {weight})")
        total = math.fsum(doc.index.weights.values())
        if abs(total - 1) > WEIGHT_TOLERANCE:
            problems.append(f"index.weights: must sum to 1 (they sum to {total!r})")

    if doc.index is not None and doc.headline == doc.index.key:
        pass
    elif doc.headline in position:
        if not positive.get(doc.headline):
            problems.append(
                f"headline: question {doc.headline!r} has no positive values, "
                "so it has no share to show"
            )
    else:
        expected = f"the index key {doc.index.key!r} or " if doc.index else ""
        problems.append(f"headline: unknown {doc.headline!r} (expected {expected}a question key)")

    problems += _check_pages(doc, position)
    return problems


def _check_question_fields(doc: DefinitionDoc, q: QuestionDoc, path: str) -> list[str]:
    problems = []

    def forbid(name: str, why: str) -> None:
        if getattr(q, name) is not None:
            problems.append(f"{path}.{name}: not allowed for a {q.type} question ({why})")

    if q.type == "scale":
        if q.scale is None:
            problems.append(f"{path}.scale: required for a scale question")
        elif q.scale not in doc.scales:
            problems.append(f"{path}.scale: unknown scale {q.scale!r} (known: {_keys(doc.scales)})")
        forbid("options", "the scale's options are used")
        forbid("positive", "the scale's positive values are used")
        forbid("max_length", "only text questions have one")
    elif q.type in ("single", "multi"):
        forbid("scale", "only scale questions use a scale")
        forbid("max_length", "only text questions have one")
        if q.type == "multi":
            forbid("positive", "only scale and single questions count positive answers")
        if q.options is None:
            problems.append(f"{path}.options: required for a {q.type} question")
        else:
            if len(q.options) < 2:
                problems.append(f"{path}.options: needs at least 2 options")
            problems += _duplicate_values(q.options, f"{path}.options")
            values = [o.value for o in q.options]
            for value in dict.fromkeys(q.positive or []):
                if value not in values:
                    problems.append(
                        f"{path}.positive: {value} is not an option (options: {_values(values)})"
                    )
    else:  # text
        forbid("scale", "only scale questions use a scale")
        forbid("options", "a text answer is free text")
        forbid("positive", "a text answer is free text")
        if q.max_length is None:
            problems.append(
                f"{path}.max_length: required for a text question (1..{MAX_TEXT_LENGTH})"
            )
        elif not 1 <= q.max_length <= MAX_TEXT_LENGTH:
            problems.append(
                f"{path}.max_length: must be between 1 and {MAX_TEXT_LENGTH} (got {q.max_length})"
            )
    return problems


def _check_condition(
    q: QuestionDoc,
    path: str,
    position: dict[str, int],
    valid: dict[str, list[int]],
    doc: DefinitionDoc,
) -> list[str]:
    assert q.show_if is not None
    target = q.show_if.question
    path += ".show_if"
    if target == q.key:
        return [f"{path}.question: refers to the question itself"]
    if target not in position:
        if any(other.key == target for other in doc.questions):
            return [
                f"{path}.question: {target!r} comes later; "
                "show_if may only refer to an earlier question"
            ]
        return [f"{path}.question: unknown question {target!r}"]
    target_doc = doc.questions[position[target]]
    if target_doc.type == "text":
        return [
            f"{path}.question: {target!r} is a text question; show_if needs a question with options"
        ]
    values = valid.get(target, [])
    return [
        f"{path}.values: {value} is not a value of {target!r} (values: {_values(values)})"
        for value in dict.fromkeys(q.show_if.values)
        if values and value not in values  # no values: the target's own error is reported already
    ]


def _check_factor_item(
    doc: DefinitionDoc, item: str, path: str, position: dict[str, int]
) -> list[str]:
    if item not in position:
        return [f"{path}: unknown question {item!r}"]
    q = doc.questions[position[item]]
    if q.type != "scale":
        return [f"{path}: {item!r} is a {q.type} question; factor items must be scale questions"]
    scale = doc.scales.get(q.scale or "")
    if scale is not None and not scale.positive:
        return [
            f"{path}: {item!r} uses scale {q.scale!r}, which has no positive values; "
            "factor items need them to count satisfaction"
        ]
    return []


def _check_pages(doc: DefinitionDoc, position: dict[str, int]) -> list[str]:
    problems = []
    page_keys: dict[str, int] = {}
    page_of: dict[str, str] = {}
    last = -1
    out_of_order_reported = False
    for i, page in enumerate(doc.pages):
        if page.key in page_keys:
            problems.append(
                f"pages[{i}].key: duplicate page key {page.key!r} "
                f"(also pages[{page_keys[page.key]}])"
            )
        else:
            page_keys[page.key] = i
        for j, key in enumerate(page.questions):
            path = f"pages[{i}].questions[{j}]"
            if key not in position:
                problems.append(f"{path}: unknown question {key!r}")
            elif key in page_of:
                problems.append(f"{path}: {key!r} is already on page {page_of[key]!r}")
            else:
                page_of[key] = page.key
                if position[key] < last and not out_of_order_reported:
                    problems.append(
                        f"{path}: {key!r} is out of order "
                        "(pages must list the questions in the order of `questions`)"
                    )
                    out_of_order_reported = True
                last = max(last, position[key])
    missing = [q.key for q in doc.questions if q.key not in page_of]
    if missing:
        problems.append(
            f"pages: question{'s' if len(missing) > 1 else ''} on no page: {', '.join(missing)}"
        )
    return problems
