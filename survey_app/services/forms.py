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
  The `[ĐPV]` token of question texts is replaced by `place_name`. `.error_links` lists each
  message next to a question with the control to go to (the error summary); a question asked
  only after some choice carries a `condition_hint` saying which.
- `read_form(definition, formdata, *, page_keys=None, previous=None, locale="vi",
  place_name=None) -> FormReading`: reads the submitted fields of those pages (a werkzeug
  MultiDict, e.g. `request.form`). `.answers` is the
  mapping for the payload's "answers"; `.errors` maps question keys to messages (translated, for
  people) and is empty when the page may be submitted; `.values` is what to show again. An answer
  to a question whose `show_if` condition is not met (without JavaScript every question is shown)
  is neither stored nor dropped: it comes back with a message naming the choice that asks it.
  `previous` holds answers from earlier pages, so that conditions on them are judged; `locale`
  and `place_name` word the messages.
- `check_kept_answers(definition, values, *, page_keys=None, previous=None, locale="vi",
  place_name=None) -> errors`: the problems of answers kept in a draft (a page left with the back
  button while something on it needed fixing), for those answers only.
- `estimated_minutes(definition, locale) -> int`: how long the whole questionnaire takes, to tell
  people before they start.
- `errors_from_problems(problems) -> (field_errors, form_errors)`: a `ValidationError.problems`
  from `submit_response` split into messages per question ("answers.<key>") and the rest.
- `field_name(key)`: the HTML name of a question's field (`FIELD_PREFIX` + key); `field_id(key)`.

Nothing here touches the database or the request: callers pass the definition and the form data.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

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
    condition_hint: Any = None  # when the question is asked, for people without JavaScript

    @property
    def show_if_name(self) -> str | None:
        return field_name(self.show_if_question) if self.show_if_question else None

    @property
    def input_id(self) -> str:
        """The id of the control an error summary's link moves to (the first option's)."""
        return self.choices[0].id if self.choices else f"{self.id}-input"


@dataclass(frozen=True)
class ErrorLink:
    """One line of the error summary: a message, its question, and the control to go to."""

    target: str
    question: str
    message: Any


@dataclass(frozen=True)
class SectionView:
    key: str
    title: str
    fields: tuple[FieldView, ...]
    note: str | None = None


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

    @property
    def error_links(self) -> tuple[ErrorLink, ...]:
        """Every message shown next to a question, in the order of the form."""
        return tuple(
            ErrorLink(f.input_id, f.text, message)
            for s in self.sections
            for f in s.fields
            for message in f.errors
        )


@dataclass
class FormReading:
    answers: dict[str, Answer] = field(default_factory=dict)
    values: dict[str, Answer] = field(default_factory=dict)
    errors: Messages = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _place(text: str, place_name: str | None) -> str:
    return text if place_name is None else text.replace(PLACE_TOKEN, place_name)


def _asking_choices(
    definition: Definition, question: Question, locale: str, place_name: str | None
) -> str:
    """The choices that ask `question` (its show_if), quoted without their closing stop or colon:
    “Không hài lòng”, “Qua hình thức khác (xin ghi cụ thể)”."""
    condition = question.show_if
    source = definition.question(condition.question)
    return " / ".join(
        f"“{_place(option.label.get(locale), place_name).rstrip(' .:')}”"
        for option in source.options
        if option.value in condition.values
    )


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
                    condition_hint=_l(
                        "Only if you chose %(choices)s above.",
                        choices=_asking_choices(definition, question, locale, place_name),
                    )
                    if question.show_if
                    else None,
                )
            )
        sections.append(
            SectionView(
                page.key,
                _place(page.title.get(locale), place_name),
                tuple(fields),
                _place(page.note.get(locale), place_name) if page.note else None,
            )
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
    locale: str = "vi",
    place_name: str | None = None,
) -> FormReading:
    """Turn the submitted fields of `page_keys` into answers, with messages per question."""
    reading = FormReading()
    known: dict[str, Answer] = dict(previous or {})
    for question in _questions(definition, page_keys):
        name = field_name(question.key)
        valid = question.valid_values()
        value: Answer | None = None
        given: Answer | None = None  # what was sent, valid or not
        problem = None
        if question.type in ("scale", "single"):
            raw = formdata.get(name, "")
            if raw.strip():
                given = raw
                number = _whole_number(raw)
                if number is None or number not in valid:
                    problem = _l("Choose one of the options.")
                else:
                    value = number
        elif question.type == "multi":
            raws = [r for r in formdata.getlist(name) if r.strip()]
            given = raws or None
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
            given = text or None
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
            # Shown to people without JavaScript (or kept after changing the choice that asks
            # it): not an answer to store, and not one to drop unseen either.
            if given is not None:
                if value is not None:
                    reading.values[question.key] = value
                elif question.type == "text":
                    reading.values[question.key] = given
                reading.errors.setdefault(question.key, []).append(
                    _l(
                        "You did not choose %(choices)s above, so this answer would not be "
                        "stored. Choose it above, or clear this answer.",
                        choices=_asking_choices(definition, question, locale, place_name),
                    )
                )
            continue
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


def _formdata(values: Mapping[str, Answer]) -> MultiDict:
    """Answers as the fields of a submitted form (what `read_form` reads)."""
    data = MultiDict()
    for key, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            data.add(field_name(key), str(item))
    return data


def check_kept_answers(
    definition: Definition,
    values: Mapping[str, Answer],
    *,
    page_keys: Iterable[str] | None = None,
    previous: Mapping[str, Answer] | None = None,
    locale: str = "vi",
    place_name: str | None = None,
) -> Messages:
    """The messages `read_form` gives the kept `values` of `page_keys`, for the questions that
    have a kept value (one not answered yet is asked when the page is sent)."""
    wanted = {q.key for q in _questions(definition, page_keys)}
    kept = {k: v for k, v in values.items() if k in wanted}
    reading = read_form(
        definition,
        _formdata(kept),
        page_keys=page_keys,
        previous=previous,
        locale=locale,
        place_name=place_name,
    )
    return {key: messages for key, messages in reading.errors.items() if key in kept}


# What a person is told a questionnaire takes, before starting: every text read at 200 words a
# minute (Vietnamese writes each syllable as a word; 200 is careful reading on a phone, below
# the ~240 of silent reading) plus 4 seconds to choose each answer. Over 10 minutes, the figure is
# rounded to 5 minutes: it is an estimate, not a promise to the minute.
READING_WORDS_PER_MINUTE = 200
SECONDS_PER_CHOICE = 4


def estimated_minutes(definition: Definition, locale: str) -> int:
    """Whole minutes (at least 1; over 10, a multiple of 5) to read and answer every question of
    `definition` that everybody is asked."""
    words = len(definition.title.get(locale).split())
    choices = 0
    titles_read = set()
    for page in definition.pages:
        title = page.title.get(locale)
        if title not in titles_read:  # a stem repeated on the pages of one question
            words += len(title.split())
            titles_read.add(title)
        if page.note is not None:
            words += len(page.note.get(locale).split())
        scales_read = set()
        for key in page.questions:
            question = definition.question(key)
            words += len(question.text.get(locale).split())
            if question.note is not None:
                words += len(question.note.get(locale).split())
            if question.show_if is not None:
                continue  # asked of some people only: its text is read, not answered
            if question.type != "text":
                choices += 1
            # A scale's labels are read once a page; other options with their question.
            if question.scale is None or question.scale.key not in scales_read:
                words += sum(len(o.label.get(locale).split()) for o in question.options)
            if question.scale is not None:
                scales_read.add(question.scale.key)
    minutes = (words * 60 / READING_WORDS_PER_MINUTE + choices * SECONDS_PER_CHOICE) / 60
    return max(1, round(minutes)) if minutes <= 10 else 5 * round(minutes / 5)


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
