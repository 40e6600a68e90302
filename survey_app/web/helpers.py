"""Small helpers every blueprint uses: the request's language, times shown in local time, the
service's public links, and whole numbers read from forms."""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, request, url_for
from flask_babel import get_locale
from wtforms import IntegerField

from survey_app.services.sql import MAX_INTEGER
from survey_app.timeutil import as_utc


def current_locale_code() -> str:
    """ "vi" or "en", as chosen for this request."""
    return str(get_locale())


# Where citizens are sent by a poster, a dossier receipt or an annual-survey letter. Their pages
# link only to pages of their own: the front page and everything past it is for staff and
# developers (the API's raw JSON among them).
CITIZEN_PATH_PREFIXES = ("/r/", "/d/", "/qr/", "/a/")


def is_citizen_page() -> bool:
    """Whether this request's page is one citizens reach (its errors included)."""
    return request.path.startswith(CITIZEN_PATH_PREFIXES)


def local_time(moment: datetime | None) -> str:
    """A stored UTC time as local time (LOCAL_TIMEZONE), to the minute; "" for none."""
    if moment is None:
        return ""
    zone = ZoneInfo(current_app.config["LOCAL_TIMEZONE"])
    return as_utc(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def public_url(endpoint: str, **values) -> str:
    """The absolute URL of `endpoint` as citizens' phones and tablets reach it, for every link or
    QR code the service shows or prints (posters, dossier receipts, annual forms, kiosk
    enrolment): PUBLIC_BASE_URL when set, never the Host header a request happened to carry;
    the request's own host only when it is unset."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def apply_problems(form, problems: dict[str, list[str]]) -> None:
    """Put a service's problems next to the form fields they name; the rest above the form."""
    for key, messages in problems.items():
        if key in form:
            form[key].errors = [*form[key].errors, *messages]
        else:
            form.form_errors.extend(
                messages if key in ("file", "request") else [f"{key}: {m}" for m in messages]
            )


class BoundedIntegerField(IntegerField):
    """WTForms' IntegerField, refusing a number beyond MAX_INTEGER as "not a valid integer"
    (data None): a longer one overflows NumberRange (`math.isnan`) and the database driver."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and abs(self.data) > MAX_INTEGER:
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))
