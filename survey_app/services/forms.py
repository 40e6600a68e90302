"""The server-rendered questionnaire form: plain HTML forms that work without JavaScript.

Used by the QR forms on citizens' phones (one page for the whole questionnaire) and meant to be
reused by any other HTML form over a questionnaire definition (the annual multi-page form: one
call per page). The form is described by data, rendered by the macros in
`templates/forms/_fields.html`, and read back into the answers mapping `submit_response` takes.

API
---
- `build_form(definition, *, locale, place_name, page_keys=None, values=None, errors=None,
  form_errors=()) -> FormView`: what to render. `page_keys` picks the definition's pages to show
  (None: every page, one section each). `values` is an answers mapping (question key → int,
  list of ints, or text) to show as chosen (after a refused submit, or a draft); `errors` maps a
  question key to messages shown next to that question; `form_errors` are shown above the form.
  The `[ĐPV]` token of question texts is replaced by `place_name`.
- `read_form(definition, formdata, *, page_keys=None, previous=None) -> FormReading`: reads the
  submitted fields of those pages (a werkzeug MultiDict, e.g. `request.form`). `.answers` is the
  mapping for the payload's "answers"; `.errors` maps question keys to messages (translated, for
  people) and is empty when the page may be submitted; `.values` is what to show again. A question
  whose `show_if` condition is not met is dropped silently (without JavaScript every question is
  shown); `previous` holds answers from earlier pages, so that conditions on them are judged.
- `errors_from_problems(problems) -> (field_errors, form_errors)`: a `ValidationError.problems`
  from `submit_response` split into messages per question ("answers.<key>") and the rest.
- `field_name(key)`: the HTML name of a question's field (`FIELD_PREFIX` + key); `field_id(key)`.

Nothing here touches the database or the request: callers pass the definition and the form data.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l

from questionnaires import Definition, Question
from questionnaires.text import clean_text

FIELD_PREFIX = "q_"
PLACE_TOKEN = "[ĐPV]"

Answer = int | list[int] | str
Messages = dict[str, list[Any]]


def field_name(question_key: str) -> str:
    return f"{FIELD_PREFIX}{question_key}"


def field_id(question_key: str) -> str:
    return f"q-{question_key}"


@dataclass(frozen=True)
class ChoiceView:
    value: int
    label: str
    face: str | None
    checked: bool

    @property
    def id(self) -> str:
        return f"{self._question_id}-{self.value}"

    _question_id: str = ""


@dataclass(frozen=True)
class FieldView:
    """One question as rendered: texts in the locale, its choices, its value and errors."""

    key: str
    type: str  # scale, single, multi, text
    name: str
    id: str
    text: str
    note: str | None
    required: bool
    choices: tuple[ChoiceView, ...]
    text_value: str
    max_length: int | None
    errors: tuple[Any, ...]
    show_if_question: str | None
    show_if_values: tuple[int, ...]

    @property
    def show_if_name(self) -> str | None:
        return field_name(self.show_if_question) if self.show_if_question else None


@dataclass(frozen=True)
class SectionView:
    key: str
    title: str
    fields: tuple[FieldView, ...]


@dataclass(frozen=True)
class FormView:
    key: str
    version: int
    title: str
    description: str | None
    sections: tuple[SectionView, ...]
    form_errors: tuple[Any, ...] = ()

    @property
    def has_errors(self) -> bool:
        return bool(self.form_errors) or any(f.errors for s in self.sections for f in s.fields)


@dataclass
class FormReading:
    answers: dict[str, Answer] = field(default_factory=dict)
    values: dict[str, Answer] = field(default_factory=dict)
    errors: Messages = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _place(text: str, place_name: str) -> str:
    return text.replace(PLACE_TOKEN, place_name)


def _pages(definition: Definition, page_keys: Iterable[str] | None):
    if page_keys is None:
        return list(definition.pages)
    wanted = list(page_keys)
    by_key = {page.key: page for page in definition.pages}
    unknown = [key for key in wanted if key not in by_key]
    if unknown:
        raise KeyError(f"{definition.key} v{definition.version} has no page {unknown}")
    return [by_key[key] for key in wanted]


def _questions(definition: Definition, page_keys: Iterable[str] | None) -> list[Question]:
    return [
        definition.question(key) for page in _pages(definition, page_keys) for key in page.questions
    ]


def build_form(
    definition: Definition,
    *,
    locale: str,
    place_name: str,
    page_keys: Iterable[str] | None = None,
    values: Mapping[str, Answer] | None = None,
    errors: Mapping[str, list[Any]] | None = None,
    form_errors: Iterable[Any] = (),
) -> FormView:
    """The form for `page_keys` (default: every page) of `definition`, ready for the macros."""
    values = values or {}
    errors = errors or {}
    sections = []
    for page in _pages(definition, page_keys):
        fields = []
        for key in page.questions:
            question = definition.question(key)
            value = values.get(key)
            chosen = set(value) if isinstance(value, list) else {value}
            qid = field_id(key)
            fields.append(
                FieldView(
                    key=key,
                    type=question.type,
                    name=field_name(key),
                    id=qid,
                    text=_place(question.text.get(locale), place_name),
                    note=_place(question.note.get(locale), place_name) if question.note else None,
                    required=question.required,
                    choices=tuple(
                        ChoiceView(
                            option.value,
                            _place(option.label.get(locale), place_name),
                            option.face,
                            option.value in chosen,
                            _question_id=qid,
                        )
                        for option in question.options
                    ),
                    text_value=value if isinstance(value, str) else "",
                    max_length=question.max_length,
                    errors=tuple(errors.get(key, ())),
                    show_if_question=question.show_if.question if question.show_if else None,
                    show_if_values=tuple(sorted(question.show_if.values))
                    if question.show_if
                    else (),
                )
            )
        sections.append(
            SectionView(page.key, _place(page.title.get(locale), place_name), tuple(fields))
        )
    return FormView(
        key=definition.key,
        version=definition.version,
        title=_place(definition.title.get(locale), place_name),
        description=_place(definition.description.get(locale), place_name)
        if definition.description
        else None,
        sections=tuple(sections),
        form_errors=tuple(form_errors),
    )


def _whole_number(raw: str) -> int | None:
    raw = raw.strip()
    if not raw or len(raw) > 6 or not raw.lstrip("-").isdigit():
        return None
    return int(raw)


def read_form(
    definition: Definition,
    formdata,
    *,
    page_keys: Iterable[str] | None = None,
    previous: Mapping[str, Answer] | None = None,
) -> FormReading:
    """Turn the submitted fields of `page_keys` into answers, with messages per question."""
    reading = FormReading()
    known: dict[str, Answer] = dict(previous or {})
    for question in _questions(definition, page_keys):
        name = field_name(question.key)
        valid = question.valid_values()
        value: Answer | None = None
        problem = None
        if question.type in ("scale", "single"):
            raw = formdata.get(name, "")
            if raw.strip():
                number = _whole_number(raw)
                if number is None or number not in valid:
                    problem = _l("Choose one of the options.")
                else:
                    value = number
        elif question.type == "multi":
            raws = [r for r in formdata.getlist(name) if r.strip()]
            numbers = [_whole_number(r) for r in raws]
            if any(n is None or n not in valid for n in numbers) or len(set(numbers)) != len(
                numbers
            ):
                problem = _l("Choose among the options shown.")
            elif numbers:
                value = sorted(numbers)
        else:
            # Controls are removed, as from every citizen's text (services/answers.py).
            text = clean_text(formdata.get(name, "")).strip()
            if question.max_length and len(text) > question.max_length:
                reading.values[question.key] = text
                problem = _l(
                    "Please shorten this to %(limit)s characters at most (it has %(length)s).",
                    limit=question.max_length,
                    length=len(text),
                )
            elif text:
                value = text
        asked = question.show_if is None or question.show_if.matches(
            known.get(question.show_if.question)
        )
        if not asked:
            continue  # shown to people without JavaScript, but not asked: the answer is dropped
        if problem is not None:
            reading.errors.setdefault(question.key, []).append(problem)
            continue
        if value is None:
            if question.required:
                reading.errors.setdefault(question.key, []).append(
                    _l("Please answer this question.")
                )
            continue
        known[question.key] = value
        reading.answers[question.key] = value
        reading.values[question.key] = value
    return reading


def errors_from_problems(problems: Mapping[str, list[str]]) -> tuple[Messages, list[str]]:
    """Split a ValidationError's problems into messages per question key and the others."""
    per_field: Messages = {}
    others: list[str] = []
    for path, messages in problems.items():
        if path.startswith("answers."):
            per_field.setdefault(path.removeprefix("answers."), []).extend(messages)
        else:
            others.extend(messages)
    return per_field, others
