"""The pages of a multi-page questionnaire form: numbering, and which questions each holds.
Pure: no database, no Flask. Rendering and reading a page's fields is `services/forms.py`'s job
(build_form / read_form with `page_keys`)."""

from dataclasses import dataclass

from questionnaires import Definition, Page, Question


@dataclass(frozen=True)
class PageForm:
    """One page of a form: its position (1-based), title and questions in order."""

    number: int
    total: int
    page: Page
    questions: tuple[Question, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(q.key for q in self.questions)

    @property
    def is_last(self) -> bool:
        return self.number == self.total


def page_count(definition: Definition) -> int:
    return len(definition.pages)


def get_page(definition: Definition, number: int) -> PageForm | None:
    """Page `number` (1-based) of `definition`, or None when there is no such page."""
    if not 1 <= number <= len(definition.pages):
        return None
    page = definition.pages[number - 1]
    return PageForm(
        number, len(definition.pages), page, tuple(definition.question(k) for k in page.questions)
    )
