"""Small helpers every blueprint uses: the request's language and times shown in local time."""

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import get_locale

from survey_app.timeutil import as_utc


def current_locale_code() -> str:
    """ "vi" or "en", as chosen for this request."""
    return str(get_locale())


def local_time(moment: datetime | None) -> str:
    """A stored UTC time as local time (LOCAL_TIMEZONE), to the minute; "" for none."""
    if moment is None:
        return ""
    zone = ZoneInfo(current_app.config["LOCAL_TIMEZONE"])
    return as_utc(moment).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def apply_problems(form, problems: dict[str, list[str]]) -> None:
    """Put a service's problems next to the form fields they name; the rest above the form."""
    for key, messages in problems.items():
        if key in form:
            form[key].errors = [*form[key].errors, *messages]
        else:
            form.form_errors.extend(
                messages if key in ("file", "request") else [f"{key}: {m}" for m in messages]
            )
