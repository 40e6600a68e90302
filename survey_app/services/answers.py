"""Checking a set of answers against a questionnaire definition. Pure: no database, no Flask.

Every channel's answers pass through `validate_answers`: it is the door citizens' text comes in
by. Characters no text may hold (controls, bidi overrides: questionnaires/text.py) are removed
from a text answer rather than refused: a citizen at a kiosk or on a phone cannot see them (they
come with pasted text or a broken keyboard), and refusing would lose the whole response.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from questionnaires import Definition, Question
from questionnaires.text import clean_text

# Multi-choice lists longer than this cannot be a real answer (no question has that many options).
MAX_SELECTED_OPTIONS = 50


@dataclass(frozen=True)
class CleanAnswer:
    """One stored row: a value (scale, single choice, or one selected option) or a text."""

    question_key: str
    value: int | None = None
    text: str | None = None


def _describe_values(values: frozenset[int]) -> str:
    ordered = sorted(values)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{ordered[0]}–{ordered[-1]}"
    return ", ".join(str(v) for v in ordered)


def _is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_value(question: Question, value: Any) -> str | None:
    valid = question.valid_values()
    whole = _is_whole_number(value)  # first: a list or a dict cannot be looked up in a set
    if whole and value in valid:
        return None
    if not whole:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:39] + "…"
        return f"must be one of {_describe_values(valid)}, not {shown}"
    kind = "the scale" if question.type == "scale" else "the options"
    return f"{value} is not on {kind} ({_describe_values(valid)})"


def _clean_text(question: Question, value: Any) -> tuple[str | None, str | None]:
    """Return (text, problem): the text without the characters no text may hold, trimmed. Empty
    text after that is no answer."""
    if not isinstance(value, str):
        return None, "must be text"
    text = clean_text(value).strip()
    limit = question.max_length or 0
    if len(text) > limit:
        return None, f"is {len(text):,} characters long; the limit is {limit:,}"
    return (text or None), None


def validate_answers(
    definition: Definition, raw_answers: Any
) -> tuple[list[CleanAnswer], dict[str, list[str]]]:
    """Check `raw_answers` (question key → value) against `definition`.

    Returns the rows to store and the problems found, keyed "answers.<question key>". A skipped
    question (absent, null, empty list or blank text; for a text question, also text of removed
    characters only) is no answer, which is allowed unless the question is required. A question
    whose `show_if` condition is not met must not be answered.
    """
    problems: dict[str, list[str]] = {}
    if not isinstance(raw_answers, Mapping):
        return [], {"answers": ["must be an object mapping question keys to answers"]}

    for key in raw_answers:
        if not definition.has_question(key):
            problems.setdefault(f"answers.{key}", []).append(
                f"is not a question of {definition.key} version {definition.version}"
            )

    given: dict[str, Any] = {}
    for question in definition.questions:
        value = raw_answers.get(question.key)
        if value is None or value == [] or (isinstance(value, str) and not value.strip()):
            continue
        given[question.key] = value

    rows: list[CleanAnswer] = []
    # What each earlier question chose, so that `show_if` conditions can be judged.
    chosen: dict[str, set[int]] = {}
    for question in definition.questions:
        field = f"answers.{question.key}"
        asked = True
        if question.show_if is not None:
            asked = bool(chosen.get(question.show_if.question, set()) & question.show_if.values)
        value = given.get(question.key)
        if value is None:
            if question.required and asked:
                problems.setdefault(field, []).append("is required")
            continue
        if not asked:
            condition_values = _describe_values(question.show_if.values)
            problems.setdefault(field, []).append(
                f"is only asked when {question.show_if.question} is {condition_values}; leave it out"
            )
            continue
        if question.type in ("scale", "single"):
            problem = _check_value(question, value)
            if problem:
                problems.setdefault(field, []).append(problem)
            else:
                chosen[question.key] = {value}
                rows.append(CleanAnswer(question.key, value=value))
        elif question.type == "multi":
            if not isinstance(value, list) or len(value) > MAX_SELECTED_OPTIONS:
                problems.setdefault(field, []).append("must be a list of option numbers")
                continue
            selected_problems = [p for p in (_check_value(question, v) for v in value) if p]
            if selected_problems:
                problems.setdefault(field, []).extend(selected_problems)
            elif len(set(value)) != len(value):
                problems.setdefault(field, []).append("lists the same option twice")
            else:
                chosen[question.key] = set(value)
                rows.extend(CleanAnswer(question.key, value=v) for v in sorted(value))
        else:
            text, problem = _clean_text(question, value)
            if problem:
                problems.setdefault(field, []).append(problem)
            elif text is not None:
                rows.append(CleanAnswer(question.key, text=text))
            elif question.required:
                problems.setdefault(field, []).append("is required")
    return rows, problems
