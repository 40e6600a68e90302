"""The data model. Importing this package registers every table with the metadata (Alembic needs it)."""

from survey_app.models.annual import (
    AnnualLink,
    FormDraft,
    PaperFormEntry,
    RateLimitHit,
    SampleCode,
    SamplingFrame,
)
from survey_app.models.audit import AuditEvent
from survey_app.models.device import Kiosk, OfficerDuty
from survey_app.models.qr import DossierRating, PosterCode
from survey_app.models.questionnaire import Questionnaire
from survey_app.models.response import (
    ANSWERED_MARKER,
    CHANNELS,
    ENTERED_BY,
    LOCALES,
    Answer,
    AnswerCount,
    HiddenComment,
    IndexMoment,
    MonthlyAnswerCount,
    Response,
    SubtreeMoment,
    YearlyAnswerCount,
)
from survey_app.models.staff import (
    API_KEY_PURPOSES,
    ROLES,
    ApiKey,
    StaffAccount,
    StaffScope,
    StaffSession,
)
from survey_app.models.target import COMPARISONS, PERIOD_KINDS, Target
from survey_app.models.unit import (
    CHANNEL_DEFAULT_QUESTIONNAIRES,
    UNIT_KINDS,
    ChannelQuestionnaire,
    Counter,
    FormerUnitCode,
    Unit,
)

__all__ = [
    "ANSWERED_MARKER",
    "API_KEY_PURPOSES",
    "CHANNELS",
    "CHANNEL_DEFAULT_QUESTIONNAIRES",
    "COMPARISONS",
    "ENTERED_BY",
    "LOCALES",
    "PERIOD_KINDS",
    "ROLES",
    "UNIT_KINDS",
    "AnnualLink",
    "Answer",
    "AnswerCount",
    "ApiKey",
    "AuditEvent",
    "ChannelQuestionnaire",
    "Counter",
    "DossierRating",
    "FormDraft",
    "FormerUnitCode",
    "HiddenComment",
    "IndexMoment",
    "Kiosk",
    "MonthlyAnswerCount",
    "OfficerDuty",
    "PaperFormEntry",
    "PosterCode",
    "Questionnaire",
    "RateLimitHit",
    "Response",
    "SampleCode",
    "SamplingFrame",
    "StaffAccount",
    "StaffScope",
    "StaffSession",
    "SubtreeMoment",
    "Target",
    "Unit",
    "YearlyAnswerCount",
]
