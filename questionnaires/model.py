"""The validated questionnaire as the app uses it: immutable, cross-references resolved.

Built only by the loader (`parse_definition` and friends), which checks every rule first, so code
holding a `Definition` never has to re-check keys, scales or conditions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

QuestionType = Literal["scale", "single", "multi", "text"]
QUESTION_TYPES: tuple[QuestionType, ...] = ("scale", "single", "multi", "text")


@dataclass(frozen=True, slots=True)
class LocalizedText:
    """A text in Vietnamese (canonical) and English (a translation for visitors)."""

    vi: str
    en: str

    def get(self, locale: str | None) -> str:
        """The text for `locale` ("en", "en-GB", "en_US" → English); otherwise Vietnamese."""
        language = (locale or "").replace("_", "-").split("-", 1)[0].lower()
        return self.en if language == "en" else self.vi


@dataclass(frozen=True, slots=True)
class Option:
    """One answer choice. Answers store `value`, never the label or the position."""

    value: int
    label: LocalizedText
    face: str | None = None


@dataclass(frozen=True, slots=True)
class Scale:
    """A shared answer scale; `positive` holds the values counted as satisfied (may be empty)."""

    key: str
    options: tuple[Option, ...]
    positive: frozenset[int]

    def values(self) -> frozenset[int]:
        """Every value an answer on this scale may take."""
        return frozenset(option.value for option in self.options)


@dataclass(frozen=True, slots=True)
class Condition:
    """`show_if`: the question is asked, and its answer accepted, only when this holds."""

    question: str
    values: frozenset[int]

    def matches(self, answer: int | Iterable[int] | None) -> bool:
        """Whether an answer to `question` shows the dependent question.

        `answer` is the int of a scale or single question, the chosen values of a multi
        question (shown when any of them is in `values`), or None when it was not answered.
        """
        if answer is None or isinstance(answer, bool):
            return False
        if isinstance(answer, int):
            return answer in self.values
        return any(value in self.values for value in answer)


@dataclass(frozen=True, slots=True)
class Question:
    """One question. Scale questions carry their resolved scale, its options and positives."""

    key: str
    type: QuestionType
    text: LocalizedText
    note: LocalizedText | None = None
    required: bool = False
    scale: Scale | None = None
    options: tuple[Option, ...] = ()
    positive: frozenset[int] = frozenset()
    max_length: int | None = None
    show_if: Condition | None = None
    # Derived from `options` once: every submission checks each of its answers against it.
    _values: frozenset[int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_values", frozenset(option.value for option in self.options))

    def valid_values(self) -> frozenset[int]:
        """The values an answer may hold (empty for a text question)."""
        return self._values


@dataclass(frozen=True, slots=True)
class Factor:
    """A group of scale items whose item satisfaction rates are averaged (unweighted)."""

    key: str
    label: LocalizedText
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Content:
    """A group of factors averaged into one content index (e.g. policy, service)."""

    key: str
    label: LocalizedText
    factors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """The headline index: a weighted mean of content indices; weights sum to 1."""

    key: str
    label: LocalizedText
    weights: Mapping[str, float] = field(hash=False)


@dataclass(frozen=True, slots=True)
class Page:
    """One screen of a kiosk or one step of a multi-page form; `note` is printed below the title
    (what the paper form prints under a question's stem)."""

    key: str
    title: LocalizedText
    questions: tuple[str, ...]
    note: LocalizedText | None = None


@dataclass(frozen=True, slots=True)
class Definition:
    """One version of one questionnaire.

    `content_hash` is the sha256 of the canonical JSON of the validated data: the app stores it
    with (key, version) and refuses a changed definition that kept its version number.
    """

    key: str
    version: int
    title: LocalizedText
    description: LocalizedText | None
    formula_version: str
    scales: Mapping[str, Scale] = field(hash=False)
    questions: tuple[Question, ...]
    factors: tuple[Factor, ...]
    contents: tuple[Content, ...]
    index: IndexSpec | None
    headline: str
    pages: tuple[Page, ...]
    content_hash: str
    canonical_json: str = field(repr=False, compare=False, hash=False)
    _by_key: Mapping[str, Question] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {q.key: q for q in self.questions})

    def has_question(self, key: str) -> bool:
        return key in self._by_key

    def question(self, key: str) -> Question:
        """The question with this key; KeyError names the questionnaire when there is none."""
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"{self.key} v{self.version} has no question {key!r}") from None

    def to_dict(self) -> dict[str, Any]:
        """A fresh JSON-safe mapping that `parse_definition` accepts and that hashes the same."""
        return json.loads(self.canonical_json)
