"""The data model. Importing this package registers every table with the metadata (Alembic needs it)."""

from survey_app.models.questionnaire import Questionnaire
from survey_app.models.response import (
    ANSWERED_MARKER,
    CHANNELS,
    ENTERED_BY,
    LOCALES,
    Answer,
    AnswerCount,
    Response,
)
from survey_app.models.target import COMPARISONS, PERIOD_KINDS, Target
from survey_app.models.unit import UNIT_KINDS, Counter, FormerUnitCode, Unit

__all__ = [
    "ANSWERED_MARKER",
    "CHANNELS",
    "COMPARISONS",
    "ENTERED_BY",
    "LOCALES",
    "PERIOD_KINDS",
    "UNIT_KINDS",
    "Answer",
    "AnswerCount",
    "Counter",
    "FormerUnitCode",
    "Questionnaire",
    "Response",
    "Target",
    "Unit",
]
