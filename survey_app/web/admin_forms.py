"""The administration pages' forms (Flask-WTF: every POST carries a CSRF token).

Field names match the keys of the services' ValidationError problems, so that a service's
message lands next to the field it is about. Unit selects do not check their choices: the view
resolves the posted id through the account's scope, so a forged id is a 404, not a form error.
"""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from questionnaires.text import find_unsafe_character
from survey_app.models import API_KEY_PURPOSES, ROLES
from survey_app.web.helpers import BoundedIntegerField

UNIT_KIND_LABELS = {
    "province": _l("Province or city"),
    "department": _l("Department"),
    "district": _l("District"),
    "commune": _l("Commune"),
    "ward": _l("Ward"),
    "centre": _l("Public administrative service centre"),
    "other": _l("Other"),
}
CHANNEL_LABELS = {
    "kiosk": _l("Tablet kiosk at the counter"),
    "qr_counter": _l("QR code at the counter"),
    "qr_dossier": _l("QR code on the dossier receipt"),
    "web": _l("Web page"),
}
ROLE_LABELS = {"manager": _l("Manager"), "officer": _l("Officer"), "viewer": _l("Viewer")}
PURPOSE_LABELS = {
    "dossier_codes": _l("Dossier codes (the one-stop dossier system)"),
    "read_figures": _l("Read figures (exports)"),
    "submit_responses": _l("Submit responses (a partner app or portal)"),
}
PERIOD_LABELS = {"year": _l("Year"), "quarter": _l("Quarter"), "month": _l("Month")}
COMPARISON_LABELS = {">=": "≥", ">": ">"}
# Offered in the metric field's suggestion list; any "question:<key>" etc. may be typed too.
METRIC_SUGGESTIONS = (
    "headline",
    "index:sipas",
    "factor:A",
    "factor:B",
    "factor:C",
    "factor:D",
    "factor:E",
)


def options(pairs) -> list[SelectChoice]:
    """Select options from (value, label) pairs (WTForms 3.3 deprecates bare tuples)."""
    return [SelectChoice(value, label) for value, label in pairs]


def _strip(value):
    """Trimmed text; a field the request did not carry at all reads as empty, as an empty input
    would (WTForms leaves it None, which the services would take for text)."""
    return value.strip() if isinstance(value, str) else "" if value is None else value


STRIP = [_strip]


class PlainText:
    """Refuses a character no text may hold (a control, a bidi override, a tab or a line break:
    questionnaires/text.py), saying where it is, so that the person typing can retype the text.
    The services refuse the same characters, in English, for every other caller."""

    def __call__(self, form, field) -> None:
        found = find_unsafe_character(field.data or "")
        if found is not None:
            position, character = found
            raise ValidationError(
                _l(
                    "This holds a character that is not allowed here (%(code)s: an invisible "
                    "character, a tab or a line break) at character %(position)s; type the text "
                    "again without it.",
                    code=f"U+{ord(character):04X}",
                    position=position + 1,
                )
            )


def text_field(label, *validators, **options) -> StringField:
    """A line of text staff type (a name, a code): trimmed, and refused with `PlainText`."""
    return StringField(label, validators=[*validators, PlainText()], filters=STRIP, **options)


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class UnitForm(FlaskForm):
    name_vi = text_field(_l("Name (Vietnamese)"), DataRequired(), Length(max=200))
    name_en = text_field(_l("Name (English)"), Length(max=200))
    place_name_vi = text_field(_l("Place name for [ĐPV] (Vietnamese)"), Length(max=200))
    place_name_en = text_field(_l("Place name for [ĐPV] (English)"), Length(max=200))


class UnitCreateForm(FlaskForm):
    parent = SelectField(_l("Parent unit"), choices=[], validate_choice=False)
    code = text_field(_l("Code"), DataRequired(), Length(max=32))
    name_vi = text_field(_l("Name (Vietnamese)"), DataRequired(), Length(max=200))
    name_en = text_field(_l("Name (English)"), Length(max=200))
    kind = SelectField(_l("Kind"), choices=options(UNIT_KIND_LABELS.items()))
    place_name_vi = text_field(_l("Place name for [ĐPV] (Vietnamese)"), Length(max=200))


class CounterCreateForm(FlaskForm):
    code = text_field(_l("Code"), DataRequired(), Length(max=32))
    name_vi = text_field(_l("Name (Vietnamese)"), DataRequired(), Length(max=200))
    name_en = text_field(_l("Name (English)"), Length(max=200))


class CounterEditForm(FlaskForm):
    name_vi = text_field(_l("Name (Vietnamese)"), DataRequired(), Length(max=200))
    name_en = text_field(_l("Name (English)"), Length(max=200))
    active = BooleanField(_l("Takes responses (active)"))


class ChannelsForm(FlaskForm):
    """One select per channel; "" means "inherit from the parent unit". Choices come from the
    loaded questionnaires (set by the view), so an unknown key is refused."""

    kiosk = SelectField(CHANNEL_LABELS["kiosk"], choices=[])
    qr_counter = SelectField(CHANNEL_LABELS["qr_counter"], choices=[])
    qr_dossier = SelectField(CHANNEL_LABELS["qr_dossier"], choices=[])
    web = SelectField(CHANNEL_LABELS["web"], choices=[])


class MergeForm(FlaskForm):
    into = SelectField(
        _l("Merge into"), choices=[], validate_choice=False, validators=[DataRequired()]
    )
    confirm = HiddenField()


class ImportForm(FlaskForm):
    what = RadioField(
        _l("The file holds"),
        choices=options([("units", _l("Units")), ("counters", _l("Counters"))]),
        default="units",
        render_kw={"class": "choices"},
    )
    file = FileField(_l("CSV file (UTF-8)"), validators=[FileRequired()])


class TargetForm(FlaskForm):
    metric = text_field(_l("Metric"), DataRequired(), Length(max=64), default="headline")
    threshold = StringField(_l("Threshold (%)"), validators=[DataRequired()], filters=STRIP)
    comparison = SelectField(_l("Comparison"), choices=options(COMPARISON_LABELS.items()))
    unit = SelectField(_l("Applies to"), choices=[], validate_choice=False)
    questionnaire = SelectField(_l("Questionnaire"), choices=[])
    period_kind = SelectField(_l("Period"), choices=options(PERIOD_LABELS.items()))
    start_year = BoundedIntegerField(
        _l("From year"), validators=[Optional(), NumberRange(min=2000, max=2100)]
    )
    end_year = BoundedIntegerField(
        _l("To year"), validators=[Optional(), NumberRange(min=2000, max=2100)]
    )
    source_document = text_field(
        _l("Source document"),
        DataRequired(),
        Length(max=300),
        description=_l("e.g. KH 226/KH-UBND"),
    )

    def validate_threshold(self, field) -> None:
        if threshold_share(field.data) is None:
            raise ValidationError(_l("Enter a percentage between 0 and 100, e.g. 90."))


def threshold_share(text: str | None) -> float | None:
    """'90', '90 %' or '92,5' (a percentage) → 0.9 / 0.925; None unless strictly between 0 and 100."""
    if not text:
        return None
    try:
        value = float(text.replace("%", "").replace(",", ".").strip())
    except ValueError:
        return None
    return value / 100 if 0 < value < 100 else None


class QuestionnaireUploadForm(FlaskForm):
    file = FileField(_l("Definition file (YAML)"), validators=[FileRequired()])


class AccountCreateForm(FlaskForm):
    username = StringField(
        _l("Username"), validators=[DataRequired(), Length(max=64)], filters=STRIP
    )
    display_name = text_field(_l("Full name"), DataRequired(), Length(max=200))
    title = text_field(_l("Job title"), Length(max=200))
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    is_administrator = BooleanField(_l("Administrator (sees and changes everything)"))


class AccountEditForm(FlaskForm):
    display_name = text_field(_l("Full name"), DataRequired(), Length(max=200))
    title = text_field(_l("Job title"), Length(max=200))


class PasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=200)])
    password_again = PasswordField(
        _l("New password again"),
        validators=[DataRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )


class ScopeForm(FlaskForm):
    unit = SelectField(_l("Unit"), choices=[], validate_choice=False, validators=[DataRequired()])
    role = SelectField(_l("Role"), choices=options((r, ROLE_LABELS[r]) for r in ROLES))


class ApiKeyForm(FlaskForm):
    name = text_field(_l("Name"), DataRequired(), Length(max=200))
    purpose = SelectField(
        _l("Purpose"), choices=options((p, PURPOSE_LABELS[p]) for p in API_KEY_PURPOSES)
    )
    unit = SelectField(_l("Unit"), choices=[], validate_choice=False, validators=[DataRequired()])


class AuditFilterForm(FlaskForm):
    """A GET form: nothing changes, so no CSRF token."""

    class Meta:
        csrf = False

    action = StringField(_l("Action starts with"), validators=[Length(max=64)], filters=STRIP)
    actor = StringField(_l("Actor"), validators=[Length(max=200)], filters=STRIP)
