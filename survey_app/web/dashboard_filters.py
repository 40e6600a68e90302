"""Reading the dashboard's filters from a query string (GET forms: bookmarkable, no CSRF needed)."""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from survey_app.models import CHANNELS
from survey_app.services.figures import CHANNEL_GROUPS, Filters
from survey_app.services.periods import PERIOD_KINDS, Period, custom_period, period_of
from survey_app.timeutil import utcnow

PERIOD_LABELS = {
    "today": _l("Today"),
    "week": _l("This week"),
    "month": _l("This month"),
    "quarter": _l("This quarter"),
    "year": _l("This year"),
    "range": _l("Chosen dates"),
}
CHANNEL_LABELS = {
    "all": _l("All channels"),
    "kiosk": _l("Kiosk"),
    "qr": _l("QR code"),
    "web": _l("Web"),
    "paper": _l("Paper and interviewers"),
}
DASHBOARD_QUESTIONNAIRES = ("sipas-counter", "quick-rating", "sipas-annual")


@dataclass(frozen=True)
class DashboardQuery:
    filters: Filters
    period_kind: str
    channel_group: str
    problems: tuple[str, ...]

    def args(self, **changes) -> dict[str, str]:
        """The query string for links that keep these filters (and change some)."""
        args = {
            "period": self.period_kind,
            "questionnaire": self.filters.questionnaire_key,
            "channel": self.channel_group,
        }
        if self.period_kind == "range":
            args["start"] = self.filters.period.start.isoformat()
            args["end"] = self.filters.period.end.isoformat()
        if self.filters.include_staff_entered:
            args["staff"] = "1"
        args.update({k: str(v) for k, v in changes.items() if v is not None})
        return args


def local_today() -> date:
    return utcnow().astimezone(ZoneInfo(current_app.config["LOCAL_TIMEZONE"])).date()


def _parse_date(text: str | None) -> date | None:
    try:
        return datetime.strptime(text or "", "%Y-%m-%d").date()
    except ValueError:
        return None


def parse_dashboard_query(args: MultiDict) -> DashboardQuery:
    """Filters from the query string; anything unreadable falls back to a default and is reported."""
    problems = []
    config = current_app.config
    today = local_today()
    period_kind = args.get("period", "month")
    period: Period
    if period_kind == "range":
        start, end = _parse_date(args.get("start")), _parse_date(args.get("end"))
        try:
            if start is None or end is None:
                raise ValueError(str(_l("give the start and end dates as YYYY-MM-DD")))
            period = custom_period(start, end)
        except ValueError as error:
            problems.append(str(error))
            period_kind, period = "month", period_of("month", today)
    elif period_kind in PERIOD_KINDS:
        period = period_of(period_kind, today)
    else:
        problems.append(str(_l("unknown period; showing this month")))
        period_kind, period = "month", period_of("month", today)
    questionnaire = args.get("questionnaire", "sipas-counter")
    if questionnaire not in DASHBOARD_QUESTIONNAIRES:
        problems.append(str(_l("unknown questionnaire; showing sipas-counter")))
        questionnaire = "sipas-counter"
    channel_group = args.get("channel", "all")
    if channel_group not in CHANNEL_LABELS:
        problems.append(str(_l("unknown channel; showing all")))
        channel_group = "all"
    channels = CHANNELS if channel_group == "all" else CHANNEL_GROUPS[channel_group]
    filters = Filters(
        questionnaire_key=questionnaire,
        period=period,
        channels=tuple(channels),
        include_staff_entered=args.get("staff") == "1",
        min_n=config["MIN_N"],
        default_target=config["DEFAULT_TARGET"],
    )
    return DashboardQuery(filters, period_kind, channel_group, tuple(problems))
